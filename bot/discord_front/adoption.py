"""Where the original bot's rows were said, from the gateway: the cog that tells the adoption
(bot/core/adoption.py) each channel's server as discord.py learns it.

At start every server's GUILD_CREATE lists its channels and active threads; afterwards CHANNEL_CREATE,
THREAD_CREATE and THREAD_LIST_SYNC (discord.py's thread_join) add more. A channel with unplaced rows that
no server lists is asked about once (GET /channels/{id}): a DM channel's rows are DMs; a channel Discord no
longer has (404) or no longer shows the bot (403) keeps its rows unplaced. All of it runs in background
tasks, so nothing here delays an answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

import discord
from discord.ext import commands

from bot.core.adoption import Adoption
from bot.store.adoption import Place

log = logging.getLogger(__name__)

Located = discord.abc.GuildChannel | discord.Thread


def places_in(guild: discord.Guild) -> list[Place]:
    """Every channel and active thread the gateway listed for a server."""
    channels: Iterable[Located] = [*guild.channels, *guild.threads]
    return [Place(str(channel.id), str(guild.id)) for channel in channels]


class Adopting(commands.Cog):
    """Feeds the adoption with channels' places; has no commands."""

    def __init__(self, bot: commands.Bot, adoption: Adoption) -> None:
        self.bot = bot
        self.adoption = adoption
        self._swept = False  # on_ready comes again after a reconnect: sweep once per process
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # e.g. the log closed under it
            log.warning("placing the original bot's rows stopped (%s): the next start goes on", task.exception())

    async def cog_unload(self) -> None:
        for task in self._tasks:
            task.cancel()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if not self._swept:
            self._swept = True
            self._spawn(self._sweep())

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        self._spawn(self.adoption.place(places_in(guild)))

    @commands.Cog.listener()
    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        self._spawn(self.adoption.place([Place(str(channel.id), str(channel.guild.id))]))

    @commands.Cog.listener()
    async def on_thread_create(self, thread: discord.Thread) -> None:
        self._spawn(self.adoption.place([Place(str(thread.id), str(thread.guild.id))]))

    @commands.Cog.listener()
    async def on_thread_join(self, thread: discord.Thread) -> None:
        await self.on_thread_create(thread)

    async def _sweep(self) -> None:
        """Every server's channels first; then ask Discord about each channel no server listed."""
        if not await self.adoption.waiting():
            return
        await self.adoption.place(place for guild in self.bot.guilds for place in places_in(guild))
        for channel_id in sorted(await self.adoption.waiting()):
            place = await self._ask(channel_id)
            if place is not None:
                await self.adoption.place([place])
        await self.adoption.report()

    async def _ask(self, channel_id: str) -> Place | None:
        """The channel's place by Discord's answer, or None when Discord will not say (it stays unplaced)."""
        if not channel_id.isdigit():
            return None  # not a Discord channel id: nothing to ask
        try:
            channel = await self.bot.fetch_channel(int(channel_id))
        except (discord.NotFound, discord.Forbidden):
            return None  # gone, or out of the bot's sight
        except discord.HTTPException as err:
            log.warning("cannot ask Discord where channel %s is (%s): its old rows stay unplaced", channel_id, err)
            return None
        if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
            return Place(channel_id, str(channel.guild.id))
        return Place(channel_id, None)  # a DM (or a group DM): its rows are DMs
