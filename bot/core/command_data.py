"""What the commands do with what the bot keeps: figures, one user's history, exports, forgetting a
user, opting out, and retention. Independent of any front end, like the chat path in service.py.

Blocking SQLite work runs on threads, and the log's writes go through its writer thread, so the
event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.export_formats import records
from bot.core.memory import Memory, Recalled
from bot.exports.files import EXCLUDES_FALLBACK_BY_DEFAULT, ExportResult, export_file
from bot.store import ConversationLog, Selection
from bot.store.awaiting import WriterResults
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0  # how often old exchanges are swept when BOT_RETENTION_DAYS is set


@dataclass(frozen=True)
class Forgotten:
    exchanges: int
    memory_turns: int


class CommandData:
    """The log and the memory as the commands see them, always within a `Scope`."""

    def __init__(self, store: ConversationLog, memory: Memory, writes: WriterResults, *, retention_days: float = 0.0):
        self.store = store
        self.memory = memory
        self.retention_days = retention_days
        self._writes = writes

    def is_opted_out(self, user_id: str) -> bool:
        """Asked of the log at each message, so an !optout handled by another process holds here too."""
        try:
            return self.store.privacy.opted_out(user_id)
        except sqlite3.Error as err:
            # Unknown: keep nothing of theirs rather than log someone who may have opted out.
            log.warning("cannot read the opt-outs (%s); treating user %s as opted out", err, user_id)
            return True

    def memory_context(self, channel_id: str, user_id: str) -> Recalled:
        """This process's memory, without what a !forget or !optout in any process removed (blocking)."""
        return self.memory.context(channel_id, user_id, self.store.privacy.forgotten_at(user_id, channel_id))

    async def stats(self, scope: Scope = Scope.everything()) -> dict[str, Any]:
        figures = await asyncio.to_thread(self.store.stats, scope)
        return {**figures, "retention_days": self.retention_days}

    async def count_for_user(self, user_id: str, scope: Scope = Scope.everything()) -> int:
        return await asyncio.to_thread(self.store.count_for_user, user_id, scope)

    async def history(self, user_id: str, scope: Scope, limit: int = 10) -> list[dict[str, Any]]:
        """One user's last exchanges within `scope`: identity is the id, never a name."""
        return await asyncio.to_thread(self.store.scoped_history, user_id, scope, limit)

    async def find_users(self, name: str, scope: Scope) -> dict[str, list[str]]:
        """Everyone who has been called `name` within `scope` (user id -> their names there)."""
        return await asyncio.to_thread(self.store.find_users, name, scope)

    async def export(
        self,
        directory: Path,
        max_bytes: int | None = None,
        max_parts: int = 10,
        fmt: str = "csv",
        scope: Scope = Scope.everything(),
    ) -> ExportResult:
        """Every row in `scope`, as `fmt`, through the same code as `python -m bot export`."""
        selection = Selection(exclude_fallback=fmt in EXCLUDES_FALLBACK_BY_DEFAULT, scope=scope)
        pieces = records(fmt, self.store, selection)
        return await asyncio.to_thread(export_file, fmt, pieces, directory, max_bytes=max_bytes, max_parts=max_parts)

    async def forget(self, user_id: str, scope: Scope = Scope.everything()) -> Forgotten:
        """Delete a user's exchanges (log, search index, spool) and memory within `scope`."""
        channels = None if scope.guild_id is None else await asyncio.to_thread(self.store.channels_of, user_id, scope)
        exchanges = await self._writes.wait(self.store.forget(user_id, scope))
        turns = await asyncio.to_thread(self.memory.forget, user_id, channels)
        log.info(
            "forgot user %s (%s): %d exchanges, %d memory turns",
            user_id,
            scope.describe().lower(),
            exchanges,
            turns,
        )
        return Forgotten(exchanges, turns)

    async def set_opted_out(self, user_id: str, opted_out: bool) -> None:
        """Persist the choice first, so a failure leaves the user's choice unchanged and visible."""
        await self._writes.wait(self.store.set_opted_out(user_id, opted_out))
        if opted_out:
            await asyncio.to_thread(self.memory.forget, user_id)

    async def keep_retention(self, every: float = RETENTION_EVERY_S) -> None:
        """Sweep every `every` seconds, for as long as the service runs (open_service sweeps at start)."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.sweep_retention()
            except sqlite3.Error as err:
                log.warning("retention sweep failed (%s); trying again in %g s", err, every)

    async def sweep_retention(self) -> int:
        """Delete conversations older than the retention setting (0 keeps them forever)."""
        if not self.retention_days:
            return 0
        deleted: int = await self._writes.wait(self.store.delete_older_than(self.retention_days))
        log.info("retention: deleted %d conversation(s) older than %g days", deleted, self.retention_days)
        return deleted
