"""The one writer thread: rows and jobs in the order they were handed over, committed in groups.

Everything queued when the thread wakes is one group commit (up to `max_batch` items). Rows go
through the Backlog (spool.py), so a refused write spools instead of failing; jobs (a forget, a
rating) run in their own transaction at their place in the order. Between groups the thread keeps
the WAL bounded.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from sqlite_utils import Database

from bot.store.exchange import Exchange
from bot.store.schema import BUSY_TIMEOUT_S, StoreError, connect, write_transaction
from bot.store.spool import Backlog
from bot.store.sqlite import sqlite3

log = logging.getLogger(__name__)

WAL_LIMIT_BYTES = 16 * 1024 * 1024
MAX_BATCH = 1000  # items in one group commit
CHECKPOINT_SECONDS = 30.0


def is_read_only(err: sqlite3.Error | None) -> bool:
    """SQLITE_READONLY and its extended codes (the low byte is the primary code)."""
    return err is not None and (getattr(err, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_READONLY


@dataclass
class Write:
    """A row to log; its future resolves to the Outcome once it is durable."""

    exchange: Exchange
    future: Future


@dataclass
class ReplyId:
    """The bot message that answered a row: written with the rows, spooled with them when refused."""

    message_id: str
    reply_message_id: str
    future: Future

    def patch(self) -> dict:
        return {"message_id": self.message_id, "reply_message_id": self.reply_message_id}


@dataclass
class Job:
    """Work on the database, in order with the rows around it, in one transaction."""

    work: Callable[[Database], object]
    future: Future

    def run_on(self, db: Database) -> None:
        try:
            with write_transaction(db):
                result = self.work(db)
        except sqlite3.Error as err:
            self.future.set_exception(err)
        else:
            self.future.set_result(result)


@dataclass
class Stop:
    """Write everything before this, then end the thread."""


Item = Union[Write, ReplyId, Job, Stop]


@dataclass
class Batch:
    """One group commit's worth: what was queued, and whether a Stop was among it."""

    items: list[Write | ReplyId | Job] = field(default_factory=list)
    stop: bool = False


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
    ):
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
        self._db: Database | None = None  # the writer thread's connection, opened again after a read-only refusal
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

    def submit(self, exchange: Exchange) -> Future:
        """Hand a row over; the future resolves to its Outcome once it is durable."""
        future: Future = Future()
        with self._gate:
            if self._accepting:
                self._queue.put(Write(exchange, future))  # turned into a row on the writer thread
                return future
        # Stopped (or never started): the spool keeps it until the next start.
        future.set_result(self.backlog.keep([exchange.row()]))
        return future

    def submit_reply_id(self, message_id: str, reply_message_id: str) -> Future:
        """Record which bot message answered `message_id`; resolves to its Outcome, like a row."""
        future: Future = Future()
        with self._gate:
            if self._accepting:
                self._queue.put(ReplyId(message_id, reply_message_id, future))
                return future
        item = ReplyId(message_id, reply_message_id, future)
        future.set_result(self.backlog.keep([], [item.patch()]))  # stopped: the spool keeps it until the next start
        return future

    def run_job(self, work: Callable[[Database], object]) -> Future:
        """Run `work(db)` on the writer thread after everything handed over before it."""
        future: Future = Future()
        with self._gate:
            if not self._accepting:
                raise StoreError(f"the conversation log {self.path} is closed")
            self._queue.put(Job(work, future))
        return future

    def _connect(self) -> Database:
        db = connect(self.path, self.busy_timeout)
        if not self.own_checkpoints:
            db.execute("PRAGMA wal_autocheckpoint = 0")  # nor SQLite's automatic PASSIVE ones
        return db

    def _writable(self, db: Database) -> Database:
        """A connection SQLite opened read-only (the file was unwritable then) stays read-only for
        good: after a read-only refusal, every write tries a new one, which sees the file as it is now."""
        if not is_read_only(self.backlog.last_error):
            return db
        db.close()
        return self._connect()

    def _run(self) -> None:
        self._db = self._connect()
        last_checkpoint = time.monotonic()
        try:
            self._write([])  # replay what an earlier run spooled
            while True:
                batch = self._next_batch()
                self._flush(batch.items)
                if batch.stop or self._wal_too_big() or time.monotonic() - last_checkpoint >= self.checkpoint_seconds:
                    self._checkpoint(self._db)
                    last_checkpoint = time.monotonic()
                if batch.stop:
                    self.lost = self.backlog.settle()
                    return
        finally:
            self._db.close()

    def _next_batch(self) -> Batch:
        """Everything queued right now (group commit), waiting up to a checkpoint interval for the first."""
        batch = Batch()
        try:
            waiting = [self._queue.get(timeout=self.checkpoint_seconds)]
        except queue.Empty:
            return batch  # idle: a chance to retry the spool and checkpoint
        while len(waiting) < self.max_batch:
            try:
                waiting.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for item in waiting:
            match item:
                case Stop():
                    batch.stop = True
                case Write() | ReplyId() | Job():
                    batch.items.append(item)
        return batch

    def _flush(self, items: list[Write | ReplyId | Job]) -> None:
        """Write rows and run jobs in the order they were handed over."""
        writes: list[Write | ReplyId] = []
        for item in items:
            match item:
                case Write() | ReplyId():
                    writes.append(item)
                case Job():
                    self._write(writes)  # the rows before it first, in one commit
                    writes = []
                    item.run_on(self._db)
        self._write(writes)

    def _write(self, writes: list[Write | ReplyId]) -> None:
        self._db = self._writable(self._db)
        rows = [write.exchange.row() for write in writes if isinstance(write, Write)]
        replies = [write.patch() for write in writes if isinstance(write, ReplyId)]
        outcome = self.backlog.write(self._db, rows, replies)
        for write in writes:
            write.future.set_result(outcome)

    def _wal_too_big(self) -> bool:
        # Under steady writes with readers, SQLite's own checkpoints cannot reset the WAL, so it
        # grows (339 MB in 60 s in bench/); truncating it at this size keeps it bounded.
        try:
            return os.path.getsize(f"{self.path}-wal") > self.wal_limit_bytes
        except OSError:
            return False

    def _checkpoint(self, db: Database) -> None:
        # TRUNCATE keeps the -wal file small while Datasette holds read transactions open.
        if not self.own_checkpoints:
            return
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as err:
            log.debug("checkpoint skipped: %s", err)
