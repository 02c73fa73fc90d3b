"""ConversationLog: the log's reads, plus its writes as thin domain operations over the writer."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from sqlite_utils import Database

from ..scope import Scope
from .exchange import Exchange, utc_now_text
from .reads import Reads
from .migrations import TABLE
from .schema import BUSY_TIMEOUT_S, migrate
from .spool import Backlog, Spool
from .writer import CHECKPOINT_SECONDS, MAX_BATCH, WAL_LIMIT_BYTES, Writer


class ConversationLog(Reads):
    """The `conversations` table: reads on the caller's thread, writes on one writer thread.

    Every write returns a Future that resolves once the write is durable (see writer.py).
    """

    def __init__(self, path: Path, *, checkpoint_seconds: float = CHECKPOINT_SECONDS, max_batch: int = MAX_BATCH,
                 busy_timeout: float = BUSY_TIMEOUT_S, wal_limit_bytes: int = WAL_LIMIT_BYTES,
                 own_checkpoints: bool = True):
        super().__init__(path, busy_timeout)
        self.spool = Spool(self.path.with_name(self.path.name + ".spool.jsonl"))
        self.backlog = Backlog(self.spool, self.path)
        self.writer = Writer(self.path, self.backlog, checkpoint_seconds=checkpoint_seconds, max_batch=max_batch,
                             busy_timeout=busy_timeout, wal_limit_bytes=wal_limit_bytes,
                             own_checkpoints=own_checkpoints)

    def open(self) -> "ConversationLog":
        """Migrate the file, keep the disk reserve, and start the writer (which replays the spool)."""
        migrate(self.path)
        self.spool.keep_reserve()
        self.writer.start()
        return self

    def close(self) -> list[str]:
        """Write everything handed over so far, then stop the writer; returns the message ids of rows
        no disk could take (named in an ERROR line), so a clean stop never claims them flushed."""
        return self.writer.stop()

    def __enter__(self) -> "ConversationLog":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, exchange: Exchange) -> Future:
        """Log an exchange; resolves to 'logged', 'spooled' or 'held' (spool.Outcome) once durable."""
        return self.writer.submit(exchange)

    def run_job(self, work: Callable[[Database], object]) -> Future:
        return self.writer.run_job(work)

    def forget(self, user_id: str, scope: Scope = Scope.everything()) -> Future:
        """Delete a user's exchanges within `scope`: the table, the search index, the spool, and the
        ratings they gave or got there. Resolves to the count."""
        where, params = scope.where()
        params = {**params, "user": user_id}
        given_here = "1" if scope.is_everything else (
            f"exists (select 1 from {TABLE} c where c.reply_message_id = ratings.reply_message_id and {where})")
        gone = Scope.own(user_id, scope.guild_id)

        def work(db: Database) -> int:
            db.execute(f"delete from ratings where rater_id = :user and {given_here}", params)
            db.execute(f"delete from ratings where reply_message_id in "
                       f"(select c.reply_message_id from {TABLE} c where c.user_id = :user and {where})", params)
            deleted = db.execute(f"delete from {TABLE} as c where c.user_id = :user and {where}", params).rowcount
            return deleted + self.backlog.drop(lambda row: not gone.admits(row))
        return self.run_job(work)

    def delete_older_than(self, days: float) -> Future:
        """Retention: delete exchanges older than `days`. Resolves to the count."""
        cutoff = utc_now_text(datetime.now(timezone.utc) - timedelta(days=days))

        def work(db: Database) -> int:
            deleted = db.execute(f"delete from {TABLE} where timestamp < ?", [cutoff]).rowcount
            return deleted + self.backlog.drop(lambda row: row["timestamp"] >= cutoff)
        return self.run_job(work)

    def set_reply_id(self, message_id: str, reply_message_id: str) -> Future:
        """The exchange's second write: retried with the rows (and spooled with them) when refused."""
        return self.writer.submit_reply_id(message_id, reply_message_id)

    def rate(self, reply_message_id: str, rater_id: str, value: int) -> Future:
        """Record a rater's latest rating of a logged reply; resolves to whether it was one."""
        def work(db: Database) -> bool:
            return db.execute(
                # An upsert, not INSERT OR REPLACE: the row REPLACE deletes fires the delete triggers only
                # under PRAGMA recursive_triggers (sqlite-utils sets it; a plain sqlite3 connection does
                # not), and without them m016's scores count the rater twice (seen: raters 2 for one).
                "insert into ratings (reply_message_id, rater_id, value, rated_at) "
                f"select ?, ?, ?, ? where exists (select 1 from {TABLE} where reply_message_id = ?) "
                "on conflict (reply_message_id, rater_id) do update set value = excluded.value, "
                "rated_at = excluded.rated_at",
                [reply_message_id, rater_id, value, utc_now_text(), reply_message_id]).rowcount > 0
        return self.run_job(work)

    def unrate(self, reply_message_id: str, rater_id: str, value: int) -> Future:
        """Remove the rating if it is still the one taken back (a later 👎 survives removing 👍)."""
        return self.run_job(lambda db: db.execute(
            "delete from ratings where reply_message_id = ? and rater_id = ? and value = ?",
            [reply_message_id, rater_id, value]).rowcount)

    def set_opted_out(self, user_id: str, opted_out: bool) -> Future:
        def work(db: Database) -> None:
            if opted_out:
                db.execute("insert or ignore into opt_outs (user_id, opted_out_at) values (?, ?)",
                           [user_id, utc_now_text()])
            else:
                db.execute("delete from opt_outs where user_id = ?", [user_id])
        return self.run_job(work)
