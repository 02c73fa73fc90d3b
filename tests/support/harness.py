"""The bot in-process against the fake Discord and fake Claude, and the moves a test makes through it."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from bot.config.settings import Settings
from bot.core.service import BotService, open_service
from bot.discord_front.bot import ConversationBot, run_bot
from bot.replica.replicator import ReplicaWatch, Unwatched
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_discord import FakeDiscord, FakeUser, SentMessage
from tests.support.fake_gateway import shard_of
from tests.support.logs import log_rows


@dataclass
class Harness:
    discord: FakeDiscord
    claude: FakeAnthropic
    settings: Settings
    bot: ConversationBot
    service: BotService
    alice: FakeUser
    bob: FakeUser
    admin: FakeUser

    async def say(self, user: FakeUser, text: str, replies: int = 1, **where) -> list[SentMessage]:
        """Post as `user` and wait for the bot's `replies` messages."""
        before = len(self.discord.sent)
        await self.discord.user_says(user, text, **where)
        sent = await self.discord.wait_for_sent(before + replies)
        return sent[before:]

    def rows(self) -> list[dict]:
        return log_rows(self.settings)


@asynccontextmanager
async def running_bot(settings: Settings, discord_server: FakeDiscord, replica: ReplicaWatch | None = None):
    """The bot on the fake Discord; `replica` is what its owners' !stats reads (by default: nobody watching)."""
    async with open_service(settings) as service:
        watch = replica or Unwatched(settings)
        bot = ConversationBot(settings, service, replica=watch, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(settings.discord_token))
        ready = asyncio.create_task(bot.wait_until_ready())
        await asyncio.wait([task, ready], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # start() ended early: raise its error
        assert ready.done(), "bot did not become ready"
        try:
            yield bot, service
        finally:
            await bot.close()
            await task


async def chat(harness: Harness, user: FakeUser, *texts: str) -> None:
    """Post each text as `user`, mentioning the bot, and wait for each reply."""
    for text in texts:
        await harness.say(user, text, mention_bot=True)


def with_settings(harness: Harness, **changes) -> None:
    """Replace fields of the running cogs' settings (the Help cog has none)."""
    for cog in harness.bot.cogs.values():
        if hasattr(cog, "settings"):
            cog.settings = replace(cog.settings, **changes)


async def ask_to_forget(harness, user, command: str = "!forget", **where):
    """Send the command and return the confirmation prompt the bot posted."""
    [prompt] = await harness.say(user, command, **where)
    for _ in range(50):  # the ✅ the bot adds under its prompt
        if (prompt.id, "✅") in harness.discord.bot_reactions:
            return prompt
        await asyncio.sleep(0.02)
    raise AssertionError("the bot never offered the ✅ reaction")


async def start_and_stop(settings, bot_class=ConversationBot) -> None:
    async with open_service(settings) as service:
        bot = bot_class(settings, service, replica=Unwatched(settings), guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(settings.discord_token))
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        await bot.close()
        await task


@asynccontextmanager
async def bot_through_run_bot(settings, discord_server, connections: int = 1):
    """run_bot as `python -m bot` runs it; yields once the `connections`-th bot it made is ready."""
    bots = []
    async with open_service(settings) as service:
        task = asyncio.create_task(
            run_bot(settings, service, Unwatched(settings), started=bots.append, guild_ready_timeout=0.05)
        )
        for _ in range(500):
            if len(bots) >= connections and bots[-1].is_ready():
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        assert len(bots) == connections and bots[-1].is_ready(), f"{len(bots)} bots made, the last not ready"
        try:
            yield bots[-1]
        finally:
            await bots[-1].close()
            await task


def servers_on_both_shards(discord_server):
    """Add servers until both of two shards carry one; returns (server on shard 0, server on shard 1)."""
    by_shard = {shard_of(g.id, 2): g for g in discord_server.guilds}
    while len(by_shard) < 2:
        guild = discord_server.add_guild(f"Server {len(discord_server.guilds) + 1}")
        by_shard.setdefault(shard_of(guild.id, 2), guild)
    return by_shard[0], by_shard[1]
