"""Short-term memory in `bot_memory.db`: the recent turns Claude sees as context.

It is independent of the permanent log: its own file, its own schema. A thread
(one `conversation_id`) is the run of turns of one user in one channel with no
gap longer than the time-to-live.

The window grows, then trims in one step. A thread keeps at least its last `turns` exchanges
(BOT_MEMORY_TURNS, 10) and grows up to `max_turns` (BOT_MEMORY_MAX_TURNS, 20); the exchange that
would pass it trims the thread back to its last `turns`. Every turn the file holds is sent, so the
start of what Claude sees stays put between trims, and so does the prefix it caches
(bot/core/prompt_cache.py). A window sliding by one exchange a turn changed that prefix on every turn
from the 11th: the 20-turn thread of bench/caching.py cost 0.40x uncached, 2.42x the floor; it now
costs 0.18x, 1.10x. Turns that expire by age trim their thread the same way, at once.
The trim is in the file, not only in what is sent: the file is the window (no state besides it, so
a restart or another reader sees the same turns), and it holds at most `max_turns` exchanges a thread.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from bot.core.memory_schema import migrations
from bot.core.memory_turns import delete_turns, drop_marked, keep_last, live_turns, thread_turns
from bot.store.attachment_column import as_text
from bot.store.exchange import FALLBACK_MODEL
from bot.store.privacy import ForgetMark
from bot.store.sqlite import commit_for_litestream, sqlite3

if TYPE_CHECKING:  # a type only: the CLI imports memory, and anthropic at import costs it ~60 MB
    from anthropic.types import MessageParam

DAY_S = 86400.0


@dataclass
class Recalled:
    """What Claude sees before a new message: its conversation's earlier turns, from memory or a reply chain."""

    conversation_id: str
    messages: list[MessageParam] = field(default_factory=list)
    continues: str | None = None  # the bot reply whose chain this continues (a Discord reply or thread)
    message_ids: tuple[str, ...] = ()  # the log's exchanges behind `messages`, in order, one per user turn


def recall_chain(rows: list[dict[str, Any]]) -> Recalled:
    """The context of a reply chain (logged exchanges, oldest first): its conversation, and its turns as
    Claude saw them (a fallback turn was not Claude's, so it is never context)."""
    sent = [row for row in rows if row["model_used"] != FALLBACK_MODEL]
    messages: list[MessageParam] = []
    for row in sent:
        messages += [
            {"role": "user", "content": as_text(row["user_message"], row["attachments"])},
            {"role": "assistant", "content": row["bot_response"]},
        ]
    return Recalled(
        rows[-1]["conversation_id"],
        messages,
        continues=rows[-1]["reply_message_id"],
        message_ids=tuple(row["message_id"] for row in sent),
    )


class Memory:
    def __init__(
        self,
        path: Path,
        *,
        turns: int = 10,
        max_turns: int = 20,
        ttl_minutes: float = 60.0,
        retention_days: float = 0.0,
        replicated: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.replicated = replicated  # Litestream replicates the file (LITESTREAM_REPLICA_URL)
        if max_turns < turns:
            raise ValueError(f"the memory's max_turns ({max_turns}) must be at least its turns ({turns})")
        self.turns = turns  # exchanges always sent, when the thread has them
        self.max_turns = max_turns  # exchanges the window grows to before it trims back to `turns`
        self.ttl_seconds = ttl_minutes * 60
        # A turn is kept for the TTL, and never longer than the log's retention (0: the log keeps all).
        self.keep_seconds = min(self.ttl_seconds, retention_days * DAY_S) if retention_days else self.ttl_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._db: Database | None = None

    def open(self) -> Memory:
        conn = sqlite3.connect(str(self.path), timeout=5, check_same_thread=False)
        conn.execute("PRAGMA secure_delete = ON")  # forgotten turns are zeroed in the file, not left in free pages
        if self.replicated:
            commit_for_litestream(conn)
        self._db = Database(conn)
        migrations.apply(self._db)
        self._db.enable_wal()
        with self._lock, self._db.atomic():
            self._drop_expired(self.clock())  # a turn that expired while the bot was down goes now
        return self

    @property
    def _open_db(self) -> Database:
        """The open database; before `open()`, the error callers already take for memory unavailable."""
        if self._db is None:
            raise sqlite3.ProgrammingError("the memory is not open")
        return self._db

    def close(self) -> None:
        # Under the lock, so a call on another thread finishes first; later calls get
        # sqlite3.ProgrammingError, which callers already treat as memory being unavailable.
        with self._lock:
            if self._db is not None:
                self._db.close()

    def context(self, channel_id: str, user_id: str, forgotten_at: float | None = None) -> Recalled:
        """The live thread's last turns, oldest first; a new thread id when it has expired.

        `forgotten_at`: when another process forgot this user's memory here (the log's mark); older
        turns are deleted first, so they are never context again.
        """
        now = self.clock()
        if forgotten_at is not None:
            self.drop_forgotten(
                [ForgetMark(user_id, forgotten_at, everywhere=False, channel_ids=frozenset({channel_id}))]
            )
        with self._lock, self._open_db.atomic():
            self._drop_expired(now)  # before reading: an expired turn trims its thread first
            rows = live_turns(self._open_db, channel_id, user_id, now - self.keep_seconds, self.max_turns * 2)
        return recall_turns(rows)

    def remember(
        self, channel_id: str, user_id: str, conversation_id: str, user_text: str, bot_text: str, *, message_id: str
    ) -> None:
        """One exchange's two turns; `message_id` is the exchange's in the log."""
        now = self.clock()
        base = {
            "channel_id": channel_id,
            "user_id": user_id,
            "conversation_id": conversation_id,
            "created_at": now,
            "message_id": message_id,
        }
        db = self._open_db
        with self._lock, db.atomic():
            db.table("turns").insert_all(
                [
                    {**base, "role": "user", "content": user_text},
                    {**base, "role": "assistant", "content": bot_text},
                ]
            )
            self._drop_expired(now)
            if thread_turns(db, channel_id, user_id) > self.max_turns * 2:
                keep_last(db, channel_id, user_id, self.turns * 2)

    def _drop_expired(self, now: float) -> None:
        """Every user's turns past the TTL (or the retention), not only this thread's (PRIVACY.md); a
        thread that loses some trims to its last `turns` exchanges, so its start moves once, not each turn."""
        db, cutoff = self._open_db, now - self.keep_seconds
        # A read first (the created_at index): on most calls nothing has expired and nothing is written.
        threads = db.execute("select distinct channel_id, user_id from turns where created_at < ?", [cutoff]).fetchall()
        if threads:
            db.execute("delete from turns where created_at < ?", [cutoff])
        for channel_id, user_id in threads:
            keep_last(db, channel_id, user_id, self.turns * 2)

    def drop_forgotten(self, marks: Iterable[ForgetMark]) -> int:
        """Delete the turns a forget in any process reached: the user's, older than the mark."""
        gone = 0
        with self._lock, self._open_db.atomic():
            for mark in marks:
                gone += drop_marked(self._open_db, mark)
        return gone

    def forget(self, user_id: str | None = None, channel_ids: Collection[str] | None = None) -> int:
        """Delete one user's turns (only those in `channel_ids`, when given), or every turn; returns how many went."""
        with self._lock:
            with self._open_db.atomic():
                gone = delete_turns(self._open_db, user_id, channel_ids)
            # The WAL still holds the turns' pages until a checkpoint; a small file, so at once. Under
            # Litestream this returns busy (it holds a read lock) and Litestream's own checkpoint empties it.
            self._open_db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return gone


def recall_turns(rows: list[dict[str, Any]]) -> Recalled:
    """The context of a live thread from its last turns, newest first; a new thread id when none is left."""
    rows = rows[::-1]
    # Claude wants the conversation to open with a user turn.
    while rows and rows[0]["role"] != "user":
        rows.pop(0)
    if not rows:
        return Recalled(uuid.uuid4().hex)
    messages: list[MessageParam] = [{"role": r["role"], "content": r["content"]} for r in rows]
    ids = tuple(r["message_id"] for r in rows if r["role"] == "user")
    return Recalled(rows[-1]["conversation_id"], messages, message_ids=ids)
