"""ConversationLog: the log's reads, plus its writes as thin domain operations over the writer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlite_utils import Database

from bot.store.backlog import Backlog
from bot.store.exchange import Exchange, utc_now_text
from bot.store.migrations import TABLE
from bot.store.privacy import Privacy, write_mark
from bot.store.reads import Reads
from bot.store.schema import BUSY_TIMEOUT_S, StoreError, check_fts_format, migrate
from bot.store.scope import Scope
from bot.store.spool import Outcome, Spool
from bot.store.sqlite import has_fts5_secure_delete, sqlite3
from bot.store.writer import CHECKPOINT_SECONDS, MAX_BATCH, WAL_LIMIT_BYTES, Writer

log = logging.getLogger(__name__)

FTS_TABLE = f"{TABLE}_fts"

T = TypeVar("T")


class ConversationLog(Reads):
    """The `conversations` table: reads on the caller's thread, writes on one writer thread.

    Every write returns a Future that resolves once the write is durable (see writer.py).
    """

    def __init__(
        self,
        path: Path,
        *,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
        max_batch: int = MAX_BATCH,
        busy_timeout: float = BUSY_TIMEOUT_S,
        wal_limit_bytes: int = WAL_LIMIT_BYTES,
        own_checkpoints: bool = True,
        fts_secure_delete: bool = True,
    ) -> None:
        super().__init__(path, busy_timeout)
        # Where this SQLite has it (bot/store/sqlite.py); False keeps the 'optimize' clean-up (a test seam).
        self.fts_secure_delete = fts_secure_delete and has_fts5_secure_delete()
        self.spool = Spool(self.path.with_name(self.path.name + ".spool.jsonl"))
        self.backlog = Backlog(self.spool, self.path)
        self.writer = Writer(
            self.path,
            self.backlog,
            checkpoint_seconds=checkpoint_seconds,
            max_batch=max_batch,
            busy_timeout=busy_timeout,
            wal_limit_bytes=wal_limit_bytes,
            own_checkpoints=own_checkpoints,
        )
        self.privacy = Privacy(self.path, busy_timeout)
        self._index_holds_deleted = False  # set and cleared on the writer thread only

    def open(self) -> ConversationLog:
        """Migrate the file, keep the disk reserve, and start the writer (which replays the spool)."""
        migrate(self.path)
        check_fts_format(self.path)
        log.info("search index: %s", self.forget_clean_up)
        self.spool.keep_reserve()
        self.privacy.open()
        self.writer.start()
        return self

    def close(self) -> list[str]:
        """Write everything handed over so far, then stop the writer; returns the message ids of rows
        no disk could take (named in an ERROR line), so a clean stop never claims them flushed."""
        lost = self.writer.stop()
        self.privacy.close()
        return lost

    def __enter__(self) -> ConversationLog:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, exchange: Exchange) -> Future[Outcome]:
        """Log an exchange; resolves to 'logged', 'spooled' or 'held' (spool.Outcome) once durable."""
        return self.writer.submit(exchange)

    def run_job(self, work: Callable[[Database], T]) -> Future[T]:
        return self.writer.run_job(work)

    def forget(self, user_id: str, scope: Scope = Scope.everything()) -> Future[int]:
        """Delete a user's exchanges within `scope`: the table, the search index, the spool, and the
        ratings they gave or got there. Resolves to the count."""
        where, params = scope.where()
        params = {**params, "user": user_id}
        given_here = (
            "1"
            if scope.is_everything
            else (f"exists (select 1 from {TABLE} c where c.reply_message_id = ratings.reply_message_id and {where})")
        )
        gone = Scope.own(user_id, scope.guild_id)

        def work(db: Database) -> int:
            channels = (
                None
                if scope.is_everything
                else frozenset(
                    row[0]
                    for row in db.execute(
                        f"select distinct channel_id from {TABLE} c where c.user_id = :user and {where}", params
                    )
                )
            )
            write_mark(db, user_id, time.time(), channels)  # every process's memory drops the user's turns
            db.execute(f"delete from ratings where rater_id = :user and {given_here}", params)
            db.execute(
                f"delete from ratings where reply_message_id in "
                f"(select c.reply_message_id from {TABLE} c where c.user_id = :user and {where})",
                params,
            )
            self._set_secure_delete(db)
            deleted = db.execute(f"delete from {TABLE} as c where c.user_id = :user and {where}", params).rowcount
            self._note_deleted(db, deleted)
            return deleted + self.backlog.drop(lambda row: not gone.admits(row))

        return self.run_job(work)

    def delete_older_than(self, days: float) -> Future[int]:
        """Retention: delete exchanges older than `days`. Resolves to the count."""
        cutoff = utc_now_text(datetime.now(UTC) - timedelta(days=days))

        def work(db: Database) -> int:
            self._set_secure_delete(db)
            deleted = db.execute(f"delete from {TABLE} where timestamp < ?", [cutoff]).rowcount
            self._note_deleted(db, deleted)
            return deleted + self.backlog.drop(lambda row: row["timestamp"] >= cutoff)

        return self.run_job(work)

    @property
    def cleaning_index(self) -> bool:
        """Whether the search index still holds deleted rows' words (its clean-up is under way)."""
        return self._index_holds_deleted

    @property
    def forget_clean_up(self) -> str:
        """How a delete's words leave the search index, for the INFO line at start."""
        if self.fts_secure_delete:
            return f"FTS5 secure-delete (SQLite {sqlite3.sqlite_version}): a delete removes its words at once"
        return f"'optimize' after each delete (SQLite {sqlite3.sqlite_version}, FTS5 secure-delete off or absent)"

    def _set_secure_delete(self, db: Database) -> None:
        """In a delete's transaction, where this SQLite has the option: FTS5 'secure-delete' on (or off, the
        test seam), so the delete removes its words from the index at once. Set here, not at open, so a log
        that was read-only at start gets it too; writing one config row costs nothing beside the delete."""
        if has_fts5_secure_delete():
            db.execute(
                f"insert into {FTS_TABLE}({FTS_TABLE}, rank) values ('secure-delete', ?)", [int(self.fts_secure_delete)]
            )

    def _note_deleted(self, db: Database, deleted: int) -> None:
        """In a delete's job: start cleaning the search index, unless secure-delete did or a clean-up is under way."""
        if deleted and not self.fts_secure_delete and not self._index_holds_deleted:
            self._index_holds_deleted = True
            self._queue_clean_up(db)

    def _queue_clean_up(self, db: Database) -> None:
        try:  # after the delete's answer, before the rows and jobs handed over later
            self.run_job(self._clean_index).add_done_callback(self._after_clean_up)
        except StoreError:  # closing: no later job will run, so clean up in this one
            self._clean_index(db)

    def _clean_index(self, db: Database) -> None:
        """Rewrite the search index without the deleted rows' words.

        An external-content FTS5 delete only writes delete markers: the old segment keeps the words
        until a merge rewrites it, which for a large segment may be never. Only without FTS5
        'secure-delete' (3.42+; SQLite 3.40 of Debian 12's Python): 'optimize' merges every segment into one;
        secure_delete (schema.connect) zeroes the pages it frees. Deletes queued meanwhile share it.
        Its cost at 1M rows is in BENCHMARKS.md ("!forget"). An incremental 'merge' with a negative
        page count, tried instead, never finished while rows kept coming (each row is a new segment) and
        once ended in "database disk image is malformed" (bench/forget_cost.py, 20,000 rows).
        """
        db.execute(f"insert into {FTS_TABLE}({FTS_TABLE}) values ('optimize')")
        self._index_holds_deleted = False

    def _after_clean_up(self, done: Future[None]) -> None:
        if done.exception() is not None:  # e.g. the write lock not had within the busy timeout
            self._index_holds_deleted = False  # so the next delete starts the clean-up again
            log.warning("search index clean-up failed (%s); the next delete tries again", done.exception())

    def set_reply_id(self, message_id: str, reply_message_id: str) -> Future[Outcome]:
        """The exchange's second write: retried with the rows (and spooled with them) when refused."""
        return self.writer.submit_reply_id(message_id, reply_message_id)

    def rate(self, reply_message_id: str, rater_id: str, value: int) -> Future[bool]:
        """Record a rater's latest rating of a logged reply; resolves to whether it was one."""

        def work(db: Database) -> bool:
            return (
                db.execute(
                    # An upsert, not INSERT OR REPLACE: the row REPLACE deletes fires the delete triggers only
                    # under PRAGMA recursive_triggers (sqlite-utils sets it; a plain sqlite3 connection does
                    # not), and without them m016's scores count the rater twice (seen: raters 2 for one).
                    "insert into ratings (reply_message_id, rater_id, value, rated_at) "
                    f"select ?, ?, ?, ? where exists (select 1 from {TABLE} where reply_message_id = ?) "
                    "on conflict (reply_message_id, rater_id) do update set value = excluded.value, "
                    "rated_at = excluded.rated_at",
                    [reply_message_id, rater_id, value, utc_now_text(), reply_message_id],
                ).rowcount
                > 0
            )

        return self.run_job(work)

    def unrate(self, reply_message_id: str, rater_id: str, value: int) -> Future[int]:
        """Remove the rating if it is still the one taken back (a later 👎 survives removing 👍)."""
        return self.run_job(
            lambda db: (
                db.execute(
                    "delete from ratings where reply_message_id = ? and rater_id = ? and value = ?",
                    [reply_message_id, rater_id, value],
                ).rowcount
            )
        )

    def set_opted_out(self, user_id: str, opted_out: bool) -> Future[None]:
        def work(db: Database) -> None:
            if opted_out:
                db.execute(
                    "insert or ignore into opt_outs (user_id, opted_out_at) values (?, ?)", [user_id, utc_now_text()]
                )
                write_mark(db, user_id, time.time(), None)  # nothing of theirs stays in any process's memory
            else:
                db.execute("delete from opt_outs where user_id = ?", [user_id])

        return self.run_job(work)
