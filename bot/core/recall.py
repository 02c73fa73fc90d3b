"""What Claude sees before a new message: the exchanges of the reply chain it continues (read from
the log, however old), else the memory's live thread of its user in its channel, else nothing."""

from __future__ import annotations

import asyncio
import logging

from bot.core.command_data import CommandData
from bot.core.incoming import Incoming
from bot.core.memory import Memory, Recalled, recall_chain
from bot.store import ConversationLog
from bot.store.chains import Window
from bot.store.sqlite import sqlite3

log = logging.getLogger(__name__)


class Recall:
    """Finds a new message's context; a failing read falls back to the next source, never fails the answer."""

    def __init__(self, store: ConversationLog, memory: Memory, command_data: CommandData) -> None:
        self.store = store
        self.memory = memory
        self.command_data = command_data

    async def for_message(self, incoming: Incoming) -> Recalled:
        """A reply chain's context when the message continues one, else the memory's live thread."""
        if incoming.reply_to is not None or incoming.thread_id is not None:
            chained = await self._chained(incoming)
            if chained is not None:
                return chained
        try:
            return await asyncio.to_thread(self.command_data.memory_context, incoming.channel_id, incoming.user_id)
        except sqlite3.Error as err:
            # Memory is a convenience; without it Claude just sees this one message.
            log.warning("memory unavailable (%s); answering without context", err)
            return Recalled(conversation_id=incoming.message_id)

    async def _chained(self, incoming: Incoming) -> Recalled | None:
        """The context of a reply to a bot message (or a thread started from one): its chain in the
        log, and its conversation, however old; None when it continues no logged exchange."""
        try:
            channels = (incoming.channel_id,) + ((incoming.thread_parent_id,) if incoming.thread_parent_id else ())
            rows = await asyncio.to_thread(
                self.store.reply_chain,
                incoming.guild_id,
                channels,
                incoming.reply_to,
                incoming.thread_id,
                Window(self.memory.turns, self.memory.max_turns),  # a long chain's start moves as the memory's
            )
        except sqlite3.Error as err:
            log.warning("reply chain unavailable (%s); answering from memory", err)
            return None
        return recall_chain(rows) if rows else None
