"""Privacy as the log says it, for every process on the file: who opted out, and whose memory was forgotten.

Two bot processes may share one log (docs/deploying.md, "Sharding"), each with its own memory file. So nothing
here is cached: each question is one indexed read on a connection kept open (a primary-key lookup
measured at 0.03-0.04 ms on the 2-core machine; tests/test_forget_everywhere.py keeps it under 0.1 ms),
and a change committed by any process is seen by the next message in all of them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.store.schema import BUSY_TIMEOUT_S, StoreError, connect

MARKS_KEEP_S = 24 * 3600.0  # a forget mark outlives any memory turn it hides (BOT_MEMORY_TTL_MINUTES is 60)


@dataclass(frozen=True)
class ForgetMark:
    """A user's memory was forgotten at `at` (time.time()): everywhere, or in `channel_ids` only."""

    user_id: str
    at: float
    everywhere: bool
    channel_ids: frozenset[str] = frozenset()


def write_mark(db: Database, user_id: str, at: float, channel_ids: frozenset[str] | None) -> None:
    """In the forget's own transaction: every process's memory drops the user's turns older than `at`."""
    db.execute("delete from memory_forgets where forgotten_at < ?", [at - MARKS_KEEP_S])
    if channel_ids is None:
        db.execute("insert into memory_forgets (user_id, everywhere, forgotten_at) values (?, 1, ?)", [user_id, at])
        return
    for channel in channel_ids:
        db.execute(
            "insert into memory_forgets (user_id, channel_id, everywhere, forgotten_at) values (?, ?, 0, ?)",
            [user_id, channel, at],
        )


class Privacy:
    """Read-only questions about privacy on one open connection, safe from any thread."""

    def __init__(self, path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._db: Database | None = None  # open() connects

    def open(self) -> Privacy:
        db = connect(self.path, self.busy_timeout)
        db.execute("PRAGMA query_only = 1")
        self._db = db
        return self

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()

    def _rows(self, sql: str, params: list[object]) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._db is None:
                raise StoreError(f"the privacy reader of {self.path} is not open")
            return list(self._db.execute(sql, params).fetchall())

    def opted_out(self, user_id: str) -> bool:
        return bool(self._rows("select 1 from opt_outs where user_id = ?", [user_id]))

    def forgotten_at(self, user_id: str, channel_id: str) -> float | None:
        """When the user's memory in this channel was last forgotten by any process; None if never."""
        [(at,)] = self._rows(  # an aggregate: always one row, NULL when there is no mark
            "select max(forgotten_at) from memory_forgets where user_id = ? and (everywhere = 1 or channel_id = ?)",
            [user_id, channel_id],
        )
        return None if at is None else float(at)

    def forgets_since(self, since: float) -> list[ForgetMark]:
        """Every mark newer than `since`, for a memory that opens after them."""
        rows = self._rows(
            "select user_id, channel_id, everywhere, forgotten_at from memory_forgets"
            " where forgotten_at >= ? order by id",
            [since],
        )
        return [
            ForgetMark(user, at, bool(everywhere), frozenset() if everywhere else frozenset({channel}))
            for user, channel, everywhere, at in rows
        ]
