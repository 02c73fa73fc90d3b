"""Deleting from the log: a user's forget and retention, with the search index's clean-up after them.

Each runs as one job on the writer thread (writer.py), in order with the rows around it.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from bot.store.backlog import Backlog
from bot.store.exchange import utc_now_text
from bot.store.migrations import TABLE
from bot.store.privacy import write_mark
from bot.store.schema import StoreError
from bot.store.scope import Scope
from bot.store.sqlite import has_fts5_secure_delete, sqlite3
from bot.store.writer import Writer

log = logging.getLogger(__name__)

FTS_TABLE = f"{TABLE}_fts"


class Deletes:
    """The log's deletes, run as jobs on its writer thread."""

    def __init__(self, writer: Writer, backlog: Backlog, fts_secure_delete: bool) -> None:
        self.writer = writer
        self.backlog = backlog
        # Where this SQLite has it (bot/store/sqlite.py); False keeps the 'optimize' clean-up (a test seam).
        self.fts_secure_delete = fts_secure_delete and has_fts5_secure_delete()
        self._index_holds_deleted = False  # set and cleared on the writer thread only

    def forget(self, user_id: str, scope: Scope = Scope.everything()) -> Future[int]:
        """Delete a user's exchanges within `scope`: the table, the search index, the spool, and the
        ratings they gave or got there. Resolves to the count."""
        where, params = scope.where(of_one_user=True)
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

        return self.writer.run_job(work)

    def delete_older_than(self, days: float) -> Future[int]:
        """Retention: delete exchanges older than `days`. Resolves to the count."""
        cutoff = utc_now_text(datetime.now(UTC) - timedelta(days=days))

        def work(db: Database) -> int:
            self._set_secure_delete(db)
            deleted = db.execute(f"delete from {TABLE} where timestamp < ?", [cutoff]).rowcount
            self._note_deleted(db, deleted)
            return deleted + self.backlog.drop(lambda row: row["timestamp"] >= cutoff)

        return self.writer.run_job(work)

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
            self.writer.run_job(self._clean_index).add_done_callback(self._after_clean_up)
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
