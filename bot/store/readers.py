"""Read connections kept open from one read to the next.

A new connection parses the whole schema before its first statement: 30 tables, 27 indexes and 38 triggers
(35 KB of SQL since m025), 0.86-1.0 ms at SQLite 3.51, where the reads of !history take 0.05 ms each. Every
read opened and closed its own, so `!history NAME` in a server (two reads) spent 1.7 of its ~1.9 ms parsing
the schema. A connection kept idle keeps its parsed schema (SQLite parses it again only when the schema
changes) and holds no lock while idle: with no statement running it has no read snapshot, so it sees every
commit and leaves checkpoints free.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from bot.store.schema import connect

# Reads at once seldom exceed asyncio.to_thread's few concurrent commands; a connection beyond these is closed
# after its read. Each idle one keeps at most SQLite's default page cache (2 MB).
IDLE_READERS = 4
# A file is its device and inode: a connection opened on a file since replaced (a restore) is not reused.
FileId = tuple[int, int]


def file_id(path: Path) -> FileId | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


class Readers:
    """Read-only connections to the log at `path`, lent one read at a time, on any thread."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._idle: list[tuple[Database, FileId | None]] = []
        self._lock = threading.Lock()
        self._closed = False  # after close(), a connection back from its read is closed, not kept

    @contextmanager
    def reading(self) -> Iterator[Database]:
        """A read-only connection for one read: an idle one of the same file, else a new one. It goes back
        idle after a read that ended normally; a read that raised (or a generator left half-read) closes it,
        since it may still hold a statement and with it an old snapshot."""
        db, opened_on = self._take()
        try:
            yield db
        except BaseException:
            db.close()
            raise
        self._give_back(db, opened_on)

    def close(self) -> None:
        """Close the idle connections (the log closing); one lent out is closed when its read ends."""
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        for db, _ in idle:
            db.close()

    def _take(self) -> tuple[Database, FileId | None]:
        current = file_id(self.path)
        with self._lock:
            stale = [kept for kept in self._idle if kept[1] != current]
            self._idle = [kept for kept in self._idle if kept[1] == current]
            lent = self._idle.pop() if self._idle and current is not None else None
        for db, _ in stale:
            db.close()
        return lent or (self._open(), current)

    def _open(self) -> Database:
        db = connect(self.path, self.busy_timeout)
        db.execute("PRAGMA query_only = 1")
        return db

    def _give_back(self, db: Database, opened_on: FileId | None) -> None:
        # An explicit transaction left open would pin its snapshot: never lend that connection again.
        if opened_on is None or db.conn.in_transaction or opened_on != file_id(self.path):
            db.close()
            return
        with self._lock:
            if not self._closed and len(self._idle) < IDLE_READERS:
                self._idle.append((db, opened_on))
                return
        db.close()
