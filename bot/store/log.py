"""ConversationLog: the log's reads, plus its writes as thin domain operations over the writer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

from sqlite_utils import Database

from bot.store import ratings
from bot.store.backlog import Backlog
from bot.store.blobs import Blobs
from bot.store.deletes import Deletes
from bot.store.exchange import Exchange, utc_now_text
from bot.store.privacy import Privacy, write_mark
from bot.store.reads import Reads
from bot.store.request_record import register_prompt
from bot.store.schema import BUSY_TIMEOUT_S, check_fts_format, migrate
from bot.store.scope import Scope
from bot.store.spool import Outcome, Spool
from bot.store.writer import CHECKPOINT_SECONDS, MAX_BATCH, WAL_LIMIT_BYTES, Writer

log = logging.getLogger(__name__)

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
        keep_attachments: bool = False,
    ) -> None:
        super().__init__(path, busy_timeout)
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
        self.deletes = Deletes(self.writer, self.backlog, fts_secure_delete)
        # BOT_KEEP_ATTACHMENTS: the files' bytes (blobs.py); under Litestream when it owns the checkpoints
        self.blobs = Blobs(self.path, keep_attachments, replicated=not own_checkpoints)

    def open(self) -> ConversationLog:
        """Migrate the file, keep the disk reserve, and start the writer (which replays the spool)."""
        migrate(self.path)
        check_fts_format(self.path)
        log.info("search index: %s", self.forget_clean_up)
        self.spool.keep_reserve()
        self.privacy.open()
        self.blobs.open()
        self.writer.start()
        return self

    def close(self) -> list[str]:
        """Write everything handed over so far, then stop the writer; returns the message ids of rows
        no disk could take (named in an ERROR line), so a clean stop never claims them flushed."""
        self.readers.close()  # first, so the writer's connection is the last and SQLite folds the WAL in
        lost = self.writer.stop()
        self.blobs.close()
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
        """Delete a user's exchanges within `scope` (deletes.py); resolves to the count."""
        return self._then_prune(self.deletes.forget(user_id, scope))

    def delete_older_than(self, days: float) -> Future[int]:
        """Retention: delete exchanges older than `days` (deletes.py); resolves to the count."""
        return self._then_prune(self.deletes.delete_older_than(days))

    def _then_prune(self, deleting: Future[int]) -> Future[int]:
        """Once a delete is committed, the kept files no remaining row refers to go too (blobs.py): the
        returned future resolves after that prune is queued, so the caller's next blob write follows it."""
        pruned: Future[int] = Future()

        def prune(done: Future[int]) -> None:
            if done.exception() is not None:
                pruned.set_exception(done.exception())
                return
            if done.result():
                self.blobs.prune()
            pruned.set_result(done.result())

        deleting.add_done_callback(prune)
        return pruned

    @property
    def cleaning_index(self) -> bool:
        """Whether the search index still holds deleted rows' words (its clean-up is under way)."""
        return self.deletes.cleaning_index

    @property
    def forget_clean_up(self) -> str:
        """How a delete's words leave the search index, for the INFO line at start."""
        return self.deletes.forget_clean_up

    def set_reply_id(self, message_id: str, reply_message_id: str) -> Future[Outcome]:
        """The exchange's second write: retried with the rows (and spooled with them) when refused."""
        return self.writer.submit_reply_id(message_id, reply_message_id)

    def rate(self, reply_message_id: str, rater_id: str, value: int) -> Future[bool]:
        """Record a rater's latest rating of a logged reply; resolves to whether it was one (ratings.py)."""
        return self.run_job(lambda db: ratings.rate(db, reply_message_id, rater_id, value))

    def unrate(self, reply_message_id: str, rater_id: str, value: int) -> Future[bool]:
        """Remove the rating if it is still the one taken back; resolves to whether it was (ratings.py)."""
        return self.run_job(lambda db: ratings.unrate(db, reply_message_id, rater_id, value))

    def system_prompt_id(self, text: str) -> Future[int]:
        """The id of this system prompt's version, added on its first use (request_record.py)."""
        return self.run_job(lambda db: register_prompt(db, text, utc_now_text()))

    def set_opted_out(self, user_id: str, opted_out: bool) -> Future[None]:
        return self.run_job(lambda db: record_opt_out(db, user_id, opted_out))


def record_opt_out(db: Database, user_id: str, opted_out: bool) -> None:
    """Add or remove the user's opt-out; opting out also marks the user forgotten now."""
    if opted_out:
        db.execute("insert or ignore into opt_outs (user_id, opted_out_at) values (?, ?)", [user_id, utc_now_text()])
        write_mark(db, user_id, time.time(), None)  # nothing of theirs stays in any process's memory
    else:
        db.execute("delete from opt_outs where user_id = ?", [user_id])
