"""The Discord front end: a Bot that is handed its service, and its thin cogs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.config.settings import Settings
from bot.core.adoption import Adoption
from bot.core.service import BotService
from bot.discord_front.adoption import Adopting
from bot.discord_front.chat import Chat
from bot.discord_front.conversations import Conversations
from bot.discord_front.help import Help
from bot.discord_front.privacy import Privacy
from bot.discord_front.sync import sync_if_changed
from bot.replica.replicator import ReplicaWatch

log = logging.getLogger(__name__)

WITHOUT_CONTENT = (
    "Discord refused the Message Content intent (close code 4014): running without it. What still works: "
    "mentions of the bot, DMs, replies that ping the bot, and every slash command; `!` commands, "
    "BOT_CHAT_CHANNELS and replies with the ping switched off need the intent "
    "(developer portal: Bot → Privileged Gateway Intents → Message Content)."
)


# Discord out of reach at start (DNS failure, refused connection, timeout, or its 5xx after discord.py's own
# retries): wait, then try again. A network blip heals in seconds, an outage in minutes, so the waits grow
# from 1 s to one a minute and stay there.
UNREACHABLE = (aiohttp.ClientConnectionError, asyncio.TimeoutError, discord.DiscordServerError)
CONNECT_BACKOFF_S = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)


def unreachable_line(err: BaseException, delay: float) -> str:
    """One line saying what failed and when the next attempt is, instead of aiohttp's traceback."""
    reason = str(err) or type(err).__name__
    return f"cannot reach Discord at {discord.http.Route.BASE} ({reason}); retrying in {delay:g} s"


class ConversationBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        service: BotService,
        *,
        replica: ReplicaWatch,
        message_content: bool | None = None,
        **options: Any,
    ) -> None:
        intents = discord.Intents.default()
        # Privileged: enable it in the developer portal too. Without it, guild text arrives only when it
        # mentions the bot (slash commands need no intent).
        intents.message_content = settings.message_content if message_content is None else message_content
        super().__init__(
            command_prefix=settings.command_prefix,
            intents=intents,
            help_command=None,  # `help` is a hybrid command of the Help cog, so `/help` exists too
            # Claude's text can hold any mention ("reply only with <@id>"): only the asker is pinged,
            # by the reply itself; @everyone, roles and other users stay silent.
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings = settings
        self.service = service
        self.replica = replica  # for the owners' !stats: the Replicator beside this bot, or Unwatched

    async def add_cogs(self) -> None:
        """Every cog, so its commands are in the tree (the command-contract test registers nothing)."""
        await self.add_cog(Chat(self, self.service, self.settings))
        await self.add_cog(Conversations(self, self.service, self.settings, self.replica))
        await self.add_cog(Privacy(self, self.service, self.settings))
        await self.add_cog(Help())
        await self.add_cog(Adopting(self, Adoption(self.service.store)))  # the original bot's rows

    async def setup_hook(self) -> None:
        await self.add_cogs()
        if self.application_id is None:  # discord.py sets it at login, before this hook
            raise RuntimeError("setup_hook ran before login: no application id")
        await sync_if_changed(
            self.tree, self.application_id, self.settings.command_hash_file, self.settings.command_guild_id
        )


class ShardedConversationBot(ConversationBot, commands.AutoShardedBot):
    """The same bot over several gateway connections (BOT_SHARDS): each carries its share of the servers."""


def make_bot(
    settings: Settings, service: BotService, *, replica: ReplicaWatch, message_content: bool, **options: Any
) -> ConversationBot:
    if settings.shards is None:
        return ConversationBot(settings, service, replica=replica, message_content=message_content, **options)
    return ShardedConversationBot(
        settings,
        service,
        replica=replica,
        message_content=message_content,
        shard_count=settings.shards.count,
        shard_ids=settings.shards.ids,
        **options,
    )


async def run_bot(
    settings: Settings,
    service: BotService,
    replica: ReplicaWatch,
    started: Callable[[ConversationBot], None] = lambda b: None,
    stopping: asyncio.Event | None = None,
    **options: Any,
) -> None:
    """Run until closed or `stopping` is set. If Discord refuses the Message Content intent (4014), connect
    again without it; if Discord cannot be reached, log one line and try again after a growing wait."""
    message_content = settings.message_content
    stopping = stopping or asyncio.Event()
    failures = 0
    token = settings.discord_token
    if not token:
        raise discord.LoginFailure("DISCORD_TOKEN is not set")
    while not stopping.is_set():
        bot = make_bot(settings, service, replica=replica, message_content=message_content, **options)
        started(bot)
        try:
            async with bot:
                await bot.start(token)
            return
        except discord.PrivilegedIntentsRequired:
            if not message_content:
                raise  # asked for no privileged intent: nothing left to drop
            log.warning(WITHOUT_CONTENT)
            message_content = False
        except UNREACHABLE as err:
            delay = CONNECT_BACKOFF_S[min(failures, len(CONNECT_BACKOFF_S) - 1)]
            failures += 1
            log.warning(unreachable_line(err, delay))
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
