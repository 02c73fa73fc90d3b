"""A reply that grows in Discord as Claude writes it: one message, edited, then more past 2,000 characters.

The service hands over the text so far at every streamed delta (`update`, never blocking the
stream); a task here shows the latest text at most once per EDIT_INTERVAL_S. Discord limits
sends and edits to about 5 per 5 s per channel, and discord.py waits out a 429 itself, so a bot
that edited on every delta would queue behind its own limit (see field-notes.md).

While the reply grows it ends with WRITING_MARK; `finish` shows the complete text without it,
after the service has logged the exchange, so a reply is never complete before it is committed.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import discord

from bot.core.formatting import split_message

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 1.0  # at most one send/edit of a growing reply per second
# The first text waits this long (within one interval): a short reply that ends by then is sent
# once, complete, instead of as a send and an edit, which halves its share of the channel's limit.
FIRST_SHOW_S = 0.5
WRITING_MARK = " ▌"  # ends a reply that is still being written
# Discord's JSON error code for a reply in a channel where the bot lacks Read Message History (403).
CANNOT_REPLY_WITHOUT_HISTORY = 160002


async def reply_or_post(source: discord.Message, text: str) -> discord.Message:
    """Reply to `source`, pinging its author; as a plain message when the reply itself cannot be.

    A deleted `source` makes Discord post it plainly (fail_if_not_exists false; by default it would
    refuse with 400 / 50035). Without Read Message History it refuses every reply (403 / 160002):
    then the text is posted plainly here. Either way the answer reaches the channel.
    """
    reference = source.to_reference(fail_if_not_exists=False)
    try:
        return await source.channel.send(text, reference=reference, mention_author=True)
    except discord.Forbidden as err:
        if err.code != CANNOT_REPLY_WITHOUT_HISTORY:
            raise
        log.info(
            "no Read Message History in channel %s: answering message %s without a reply", source.channel.id, source.id
        )
        return await source.channel.send(text)


class LiveReply:
    """The bot's answer to `source`, shown while it streams; `sent` are its messages, first one first."""

    def __init__(self, source: discord.Message, interval: float = EDIT_INTERVAL_S):
        self.source = source
        self.interval = interval
        self.sent: list[discord.Message] = []
        self.shown: list[str] = []  # what each of `sent` shows now
        self.failed = False  # Discord refused a send or edit: stop showing (the log has the exchange)
        self._latest = ""
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._next_at = 0.0  # loop time of the earliest next send/edit while streaming (set at the first text)

    def update(self, text: str) -> None:
        """The text so far; shown now if the interval has passed, else once it has."""
        self._latest = text
        self._changed.set()
        if self._task is None:
            self._next_at = asyncio.get_running_loop().time() + FIRST_SHOW_S
            self._task = asyncio.create_task(self._keep_showing())

    async def finish(self, text: str) -> discord.Message | None:
        """Show the complete `text` (every chunk) and return the first message, if Discord took it."""
        await self.stop()
        await self._show(text)
        return self.sent[0] if self.sent and not self.failed else None

    async def stop(self) -> None:
        """Stop the interim edits; one under way completes first (it holds the lock)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _keep_showing(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._changed.wait()
            await asyncio.sleep(max(0.0, self._next_at - loop.time()))
            self._changed.clear()
            # Shielded: cancelling must not cut a send in half (Discord may have it already).
            await asyncio.shield(self._show(self._latest + WRITING_MARK))
            self._next_at = loop.time() + self.interval

    async def _show(self, text: str) -> None:
        async with self._lock:
            if self.failed:
                return
            try:
                for number, chunk in enumerate(split_message(text)):
                    await self._show_chunk(number, chunk)
            except discord.HTTPException as err:
                self.failed = True
                log.warning("reply to message %s not delivered: %s", self.source.id, err)

    async def _show_chunk(self, number: int, chunk: str) -> None:
        if number < len(self.sent):
            if self.shown[number] != chunk:
                self.sent[number] = await self.sent[number].edit(content=chunk)
                self.shown[number] = chunk
            return
        if number == 0:
            message = await reply_or_post(self.source, chunk)  # the one ping: the asker
        else:
            message = await self.source.channel.send(chunk)
        self.sent.append(message)
        self.shown.append(chunk)
