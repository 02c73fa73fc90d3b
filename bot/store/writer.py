"""The one writer thread: rows and jobs in the order they were handed over, committed in groups.

Everything queued when the thread wakes is one group commit (up to `max_batch` items). Rows go
through the Backlog (backlog.py), so a refused write spools instead of failing; jobs (a forget, a
rating) run in their own transaction at their place in the order. Between groups the thread keeps
the WAL bounded (checkpoints.py). What the queue carries is in write_queue.py.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from bot.store.backlog import Backlog
from bot.store.checkpoints import Checkpoints
from bot.store.exchange import Exchange
from bot.store.schema import BUSY_TIMEOUT_S, StoreError, connect
from bot.store.spool import Outcome
from bot.store.sqlite import commit_for_litestream, sqlite3
from bot.store.write_queue import Item, Job, ReplyId, Stop, Write, take_batch

T = TypeVar("T")

WAL_LIMIT_BYTES = 16 * 1024 * 1024
MAX_BATCH = 1000  # items in one group commit
CHECKPOINT_SECONDS = 30.0


def is_read_only(err: sqlite3.Error | None) -> bool:
    """SQLITE_READONLY and its extended codes (the low byte is the primary code)."""
    return err is not None and (getattr(err, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_READONLY


class WriterConnection:
    """The writer thread's one connection: under Litestream it never checkpoints on its own."""

    def __init__(self, path: Path, busy_timeout: float, own_checkpoints: bool) -> None:
        self.path, self.busy_timeout, self.own_checkpoints = path, busy_timeout, own_checkpoints
        self._db: Database | None = None  # opened by the writer thread, in open()

    def open(self) -> None:
        self._db = connect(self.path, self.busy_timeout)
        if not self.own_checkpoints:  # under Litestream
            self._db.execute("PRAGMA wal_autocheckpoint = 0")  # nor SQLite's automatic PASSIVE ones
            commit_for_litestream(self._db.conn)

    @property
    def db(self) -> Database:
        assert self._db is not None, "only the writer thread writes, on the connection it opened"
        return self._db

    def reopen_after(self, error: sqlite3.Error | None) -> None:
        """A connection SQLite opened read-only (the file was unwritable then) stays read-only for
        good: after a read-only refusal, every write tries a new one, which sees the file as it is now."""
        if is_read_only(error):
            self.db.close()
            self.open()


class Writer:
    """Owns the writing connection and its thread; hand it Writes and Jobs from any thread."""

    def __init__(
        self,
        path: Path,
        backlog: Backlog,
        *,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
        max_batch: int = MAX_BATCH,
        busy_timeout: float = BUSY_TIMEOUT_S,
        wal_limit_bytes: int = WAL_LIMIT_BYTES,
        own_checkpoints: bool = True,
    ) -> None:
        self.path = path
        # False under Litestream, which must own checkpoints: see bot/replica/litestream.py.
        self.own_checkpoints = own_checkpoints
        self.backlog = backlog
        self.checkpoint_seconds = checkpoint_seconds
        self.max_batch = max_batch
        self.busy_timeout = busy_timeout
        self.wal_limit_bytes = wal_limit_bytes
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._accepting = False
        self._gate = threading.Lock()  # no item may slip into the queue behind the Stop
        self._link = WriterConnection(path, busy_timeout, own_checkpoints)
        self.lost: list[str] = []  # message ids of rows no disk could take at stop (named in an ERROR line)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="conversation-log-writer", daemon=True)
        self._thread.start()
        self._accepting = True

    def stop(self) -> list[str]:
        """Write everything handed over so far, then end the thread; returns the message ids of rows
        that neither SQLite nor the spool could take (each named in an ERROR line)."""
        with self._gate:
            self._accepting = False
            self._queue.put(Stop())
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.lost

    def submit(self, exchange: Exchange) -> Future[Outcome]:
        """Hand a row over; the future resolves to its Outcome once it is durable."""
        future: Future[Outcome] = Future()
        with self._gate:
            if self._accepting:
                self._queue.put(Write(exchange, future))  # turned into a row on the writer thread
                return future
        # Stopped (or never started): the spool keeps it until the next start.
        future.set_result(self.backlog.keep([exchange.row()]))
        return future

    def submit_reply_id(self, message_id: str, reply_message_id: str) -> Future[Outcome]:
        """Record which bot message answered `message_id`; resolves to its Outcome, like a row."""
        future: Future[Outcome] = Future()
        with self._gate:
            if self._accepting:
                self._queue.put(ReplyId(message_id, reply_message_id, future))
                return future
        item = ReplyId(message_id, reply_message_id, future)
        future.set_result(self.backlog.keep([], [item.patch()]))  # stopped: the spool keeps it until the next start
        return future

    def run_job(self, work: Callable[[Database], T]) -> Future[T]:
        """Run `work(db)` on the writer thread after everything handed over before it."""
        future: Future[T] = Future()
        with self._gate:
            if not self._accepting:
                raise StoreError(f"the conversation log {self.path} is closed")
            self._queue.put(Job(work, future))
        return future

    @property
    def _connection(self) -> Database:
        return self._link.db

    def _run(self) -> None:
        self._link.open()
        self.checkpoints = Checkpoints(self.path, self.own_checkpoints, self.checkpoint_seconds, self.wal_limit_bytes)
        try:
            self._write([])  # replay what an earlier run spooled
            while True:
                # Idle for a checkpoint interval: an empty batch, a chance to retry the spool and checkpoint.
                batch = take_batch(self._queue, self.checkpoint_seconds, self.max_batch)
                self._flush(batch.items)
                if batch.stop or self.checkpoints.due():
                    self.checkpoints.run(self._connection)
                if batch.stop:
                    self.lost = self.backlog.settle()
                    return
        finally:
            self._connection.close()

    def _flush(self, items: list[Write | ReplyId | Job[Any]]) -> None:
        """Write rows and run jobs in the order they were handed over."""
        writes: list[Write | ReplyId] = []
        for item in items:
            match item:
                case Write() | ReplyId():
                    writes.append(item)
                case Job():
                    self._write(writes)  # the rows before it first, in one commit
                    writes = []
                    item.run_on(self._connection)
        self._write(writes)

    def _write(self, writes: list[Write | ReplyId]) -> None:
        self._link.reopen_after(self.backlog.last_error)
        rows = [write.exchange.row() for write in writes if isinstance(write, Write)]
        replies = [write.patch() for write in writes if isinstance(write, ReplyId)]
        outcome = self.backlog.write(self._connection, rows, replies)
        for write in writes:
            write.future.set_result(outcome)
