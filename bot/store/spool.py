"""Rows SQLite refused (locked, disk full, read-only), kept on disk until they can be written.

`Spool` is the append-only file beside the database. `Backlog` is what the writer thread writes
through: every write first replays what waits in the spool (and in memory, when even the spool
could not be written), so a row is logged as soon as SQLite takes writes again, and never twice.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Callable, Iterator

from sqlite_utils import Database

from .migrations import TABLE
from .schema import write_transaction
from .sqlite import sqlite3

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """Where a handed-over row is once its future resolves."""

    LOGGED = "logged"  # committed to the table
    SPOOLED = "spooled"  # in the spool file, fsynced: replayed on the next successful write
    HELD = "held"  # the disk took neither: in memory, retried on the writer's next turn


class Spool:
    """Append-only JSON-lines file of rows that could not be written to SQLite yet.

    Beside it sits a reserve file holding some disk space: when the disk is full, the
    reserve is deleted to make room, so spooled rows still reach the disk.
    """

    RESERVE_BYTES = 1 << 20  # about 1,500 exchanges

    def __init__(self, path: Path):
        self.path = path
        self.reserve = path.with_name(path.name + ".reserve")
        self.lock_path = path.with_name(path.name + ".lock")
        self._reserve_warned = False

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the spool against other processes on the same log (shards): a replay reads, writes
        and clears the file, and a row another process appends in between must not be cleared."""
        try:
            handle = open(self.lock_path, "a")
        except OSError as err:  # a full or read-only disk: one process alone still needs no lock
            log.debug("spool lock %s unavailable: %s", self.lock_path, err)
            yield
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
            yield

    def keep_reserve(self) -> None:
        if self.reserve.exists():
            return
        try:
            with open(self.reserve, "wb") as handle:
                handle.write(b"\0" * self.RESERVE_BYTES)
        except OSError as err:
            self.reserve.unlink(missing_ok=True)
            # Once per outage: it is retried after every successful write until it works.
            log.log(logging.DEBUG if self._reserve_warned else logging.WARNING,
                    "cannot keep %s for a full disk: %s", self.reserve, err)
            self._reserve_warned = True
        else:
            self._reserve_warned = False

    def append(self, rows: list[dict]) -> None:
        try:
            self._append(rows)
        except OSError as err:
            if err.errno != errno.ENOSPC or not self.reserve.exists():
                raise
            self.reserve.unlink()  # the space was kept for exactly this
            log.warning("disk full: released %s to spool %d row(s)", self.reserve, len(rows))
            self._append(rows)

    def _append(self, rows: list[dict]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    # A process killed mid-append leaves half a line; the rest is intact.
                    log.warning("skipping unreadable line %d of spool %s", number, self.path)
        return rows

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def keep_only(self, keep: Callable[[dict], bool]) -> int:
        """Drop the rows `keep` rejects (a forgotten user's, say); returns how many went."""
        rows = self.read()
        kept = [row for row in rows if keep(row)]
        if len(kept) < len(rows):
            partial = self.path.with_name(self.path.name + ".new")
            partial.unlink(missing_ok=True)
            Spool(partial).append(kept)
            os.replace(partial, self.path)
        return len(rows) - len(kept)


class Backlog:
    """The writer thread's way to the table: new rows land after every row still waiting."""

    def __init__(self, spool: Spool, table_path: Path):
        self.spool = spool
        self.table_path = table_path
        self.held: list[dict] = []  # rows neither SQLite nor the spool could take

    def write(self, db: Database, rows: list[dict]) -> Outcome:
        with self.spool.locked():  # always taken before SQLite's write lock, so never a deadlock
            return self._write(db, rows)

    def _write(self, db: Database, rows: list[dict]) -> Outcome:
        waiting = self.held + self.spool.read()
        if not waiting and not rows:
            return Outcome.LOGGED
        try:
            with write_transaction(db):
                db[TABLE].insert_all(waiting + rows, ignore=True)  # the unique message id: never twice
        except sqlite3.Error as err:
            log.warning("conversation log %s not writable (%s); spooling %d row(s)", self.table_path, err, len(rows))
            return self.keep(rows)
        self.held = []
        if waiting:
            self.spool.clear()
            log.info("replayed %d spooled row(s) into %s", len(waiting), self.table_path)
        self.spool.keep_reserve()
        return Outcome.LOGGED

    def keep(self, rows: list[dict]) -> Outcome:
        """Put rows in the spool, or (the disk is full for the spool too) in memory."""
        if not rows:
            return Outcome.SPOOLED
        try:
            self.spool.append(rows)
            return Outcome.SPOOLED
        except OSError as err:
            log.error("cannot spool to %s (%s); holding %d row(s) in memory", self.spool.path, err, len(rows))
            self.held.extend(rows)
            return Outcome.HELD

    def drop(self, keep: Callable[[dict], bool]) -> int:
        """Forget waiting rows that `keep` rejects; returns how many went."""
        before = len(self.held)
        self.held = [row for row in self.held if keep(row)]
        with self.spool.locked():
            return before - len(self.held) + self.spool.keep_only(keep)
