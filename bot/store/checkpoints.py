"""When the writer thread truncates the WAL: at stop, past a size, and at least every interval."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from sqlite_utils import Database

from bot.store.sqlite import sqlite3

log = logging.getLogger(__name__)


class Checkpoints:
    """The writer's checkpoints; with `own` False (under Litestream, which must own them: see
    bot/replica/litestream.py) their times still pass but nothing is checkpointed."""

    def __init__(self, path: Path, own: bool, interval_s: float, wal_limit_bytes: int) -> None:
        self.wal = Path(f"{path}-wal")
        self.own = own
        self.interval_s = interval_s
        self.wal_limit_bytes = wal_limit_bytes
        self._last = time.monotonic()

    def due(self) -> bool:
        return self._wal_too_big() or time.monotonic() - self._last >= self.interval_s

    def run(self, db: Database) -> None:
        # TRUNCATE keeps the -wal file small while Datasette holds read transactions open.
        if self.own:
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as err:
                log.debug("checkpoint skipped: %s", err)
        self._last = time.monotonic()

    def _wal_too_big(self) -> bool:
        # Under steady writes with readers, SQLite's own checkpoints cannot reset the WAL, so it
        # grows (339 MB in 60 s in bench/); truncating it at this size keeps it bounded.
        try:
            return os.path.getsize(self.wal) > self.wal_limit_bytes
        except OSError:
            return False
