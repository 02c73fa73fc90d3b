"""What the writer thread's queue carries: rows, reply ids and jobs in the order they were handed over."""

from __future__ import annotations

import queue
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlite_utils import Database

from bot.store.exchange import Exchange, Row
from bot.store.schema import write_transaction
from bot.store.spool import Outcome
from bot.store.sqlite import sqlite3

T = TypeVar("T")


@dataclass
class Write:
    """A row to log; its future resolves to the Outcome once it is durable."""

    exchange: Exchange
    future: Future[Outcome]


@dataclass
class ReplyId:
    """The bot message that answered a row: written with the rows, spooled with them when refused."""

    message_id: str
    reply_message_id: str
    future: Future[Outcome]

    def patch(self) -> Row:
        return {"message_id": self.message_id, "reply_message_id": self.reply_message_id}


@dataclass
class Job(Generic[T]):
    """Work on the database, in order with the rows around it, in one transaction."""

    work: Callable[[Database], T]
    future: Future[T]

    def run_on(self, db: Database) -> None:
        # A future cancelled while queued (asyncio.wrap_future passes an awaiting task's cancel on) is not
        # run; and once running it cannot be cancelled, so setting its result never raises here, which
        # ended the writer thread (seen: a placing cancelled at the bot's close, every later row waiting).
        if not self.future.set_running_or_notify_cancel():
            return
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


Item = Write | ReplyId | Job[Any] | Stop


@dataclass
class Batch:
    """One group commit's worth: what was queued, and whether a Stop was among it."""

    items: list[Write | ReplyId | Job[Any]] = field(default_factory=list)
    stop: bool = False


def take_batch(waiting: queue.SimpleQueue[Item], timeout: float, max_batch: int) -> Batch:
    """Everything queued right now (group commit), waiting up to `timeout` for the first; empty when idle."""
    batch = Batch()
    try:
        items = [waiting.get(timeout=timeout)]
    except queue.Empty:
        return batch
    while len(items) < max_batch:
        try:
            items.append(waiting.get_nowait())
        except queue.Empty:
            break
    for item in items:
        match item:
            case Stop():
                batch.stop = True
            case Write() | ReplyId() | Job():
                batch.items.append(item)
    return batch
