"""The writer thread's way to the table, through the spool (spool.py).

Every write first replays what waits in the spool (and in memory, when even the spool could not
be written), so a row is logged as soon as SQLite takes writes again, and never twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlite_utils import Database

from bot.store.exchange import Row
from bot.store.inserts import insert_rows
from bot.store.migrations import TABLE
from bot.store.request_record import touch_prompts, with_state
from bot.store.schema import write_transaction
from bot.store.spool import Outcome, Spool
from bot.store.sqlite import sqlite3

log = logging.getLogger(__name__)

REPLY_UPDATE = f"update {TABLE} set reply_message_id = :reply_message_id where message_id = :message_id"


class Backlog:
    """The writer thread's way to the table: new rows land after every row still waiting.

    A reply id ({"message_id", "reply_message_id"}: the second write of an exchange) waits beside
    the rows in its own spool, and lands in the same transaction after them, so a rating of a reply
    whose row was spooled still finds it.
    """

    def __init__(self, spool: Spool, table_path: Path) -> None:
        self.spool = spool
        self.replies = Spool(table_path.with_name(table_path.name + ".replies.jsonl"), reserve=spool.reserve)
        self.table_path = table_path
        self.held: list[Row] = []  # rows neither SQLite nor the spool could take
        self.held_replies: list[Row] = []
        self.last_error: sqlite3.Error | None = None  # why the last write was refused, until one succeeds

    def write(self, db: Database, rows: list[Row], replies: Sequence[Row] = ()) -> Outcome:
        with self.spool.locked():  # always taken before SQLite's write lock, so never a deadlock
            return self._write(db, rows, list(replies))

    def _write(self, db: Database, rows: list[Row], replies: list[Row]) -> Outcome:
        waiting = [with_state(row) for row in self.held + self.spool.read()]
        waiting_replies = self.held_replies + self.replies.read()
        if not (waiting or rows or waiting_replies or replies):
            return Outcome.LOGGED
        try:
            with write_transaction(db):
                if waiting or rows:
                    insert_rows(db, waiting + rows)  # the unique message id: never twice (inserts.py)
                    touch_prompts(db, waiting + rows)
                db.conn.executemany(REPLY_UPDATE, waiting_replies + replies)
        except sqlite3.Error as err:
            self.last_error = err
            log.warning(
                "conversation log %s not writable (%s); spooling %d row(s)",
                self.table_path,
                err,
                len(rows) + len(replies),
            )
            return self._keep_all(rows, replies)
        self.last_error = None
        self.held, self.held_replies = [], []
        if waiting or waiting_replies:
            self.spool.clear()
            self.replies.clear()
            log.info(
                "replayed %d spooled row(s) and %d reply id(s) into %s",
                len(waiting),
                len(waiting_replies),
                self.table_path,
            )
        self.spool.keep_reserve()
        return Outcome.LOGGED

    def _keep_all(self, rows: list[Row], replies: list[Row]) -> Outcome:
        """What was only in memory goes to the spool with the new rows, as soon as the disk takes it."""
        held, self.held = self.held, []
        held_replies, self.held_replies = self.held_replies, []
        return self.keep(held + rows, held_replies + replies)

    def keep(self, rows: list[Row], replies: Sequence[Row] = ()) -> Outcome:
        """Put rows (and reply ids) in the spool, or (the disk is full for the spool too) in memory."""
        outcome = Outcome.SPOOLED
        for spool, items, held in ((self.spool, rows, self.held), (self.replies, list(replies), self.held_replies)):
            if not items:
                continue
            try:
                spool.append(items)
            except OSError as err:
                log.error("cannot spool to %s (%s); holding %d in memory", spool.path, err, len(items))
                held.extend(items)
                outcome = Outcome.HELD
        return outcome

    def settle(self) -> list[str]:
        """At stop: what is held in memory goes to the spool; returns the message ids it could not keep,
        named in an ERROR line (never dropped in silence)."""
        if not (self.held or self.held_replies):
            return []
        with self.spool.locked():
            self._keep_all([], [])
        lost = [row["message_id"] for row in self.held]
        if self.held or self.held_replies:
            log.error(
                "LOST at stop: %d exchange(s) and %d reply id(s) that neither %s nor its spool %s could "
                "take; message ids: %s",
                len(self.held),
                len(self.held_replies),
                self.table_path,
                self.spool.path,
                ", ".join(lost + [r["message_id"] for r in self.held_replies]),
            )
        else:
            log.warning("wrote the exchanges held in memory to the spool %s at stop", self.spool.path)
        return lost

    def drop(self, keep: Callable[[Row], bool]) -> int:
        """Forget waiting rows that `keep` rejects; returns how many went."""
        before = len(self.held)
        self.held = [row for row in self.held if keep(row)]
        with self.spool.locked():
            return before - len(self.held) + self.spool.keep_only(keep)
