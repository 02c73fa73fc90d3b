"""Fixtures and shared helpers: real SQLite files in temp dirs, loopback fakes of Discord and Anthropic."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import discord
import pytest
import yarl
from sqlite_utils import Database

from bot.config.settings import Settings
from bot.core.service import BotService, open_service
from bot.discord_front.bot import ConversationBot
from bot.store import Exchange
from tests.fake_anthropic import FakeAnthropic
from tests.fake_discord import FakeDiscord, FakeUser, SentMessage
from tests.web import write_sample_log


@pytest.fixture
async def claude():
    fake = await FakeAnthropic().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def discord_server(monkeypatch):
    fake = await FakeDiscord().start()
    # The two settings field-notes.md names: where discord.py finds REST and the gateway.
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    yield fake
    await fake.stop()


@pytest.fixture
def settings(tmp_path, claude) -> Settings:
    return Settings(
        discord_token="fake-discord-token",
        anthropic_api_key=claude.api_key,
        anthropic_base_url=claude.url,
        api_timeout=2.0,
        api_max_retries=0,
        log_db=tmp_path / "conversation_logs.db",
        memory_db=tmp_path / "bot_memory.db",
        rate_limit=(0, 0.0),  # tests that want the per-user limit set it
    )


def log_rows_at(path) -> list[dict]:
    """Every row of the log file at `path`, in id order."""
    with Database(path) as db:
        return list(db["conversations"].rows_where(order_by="id"))


def log_rows(settings: Settings) -> list[dict]:
    return log_rows_at(settings.log_db)


def exchange(n: int, **changes) -> Exchange:
    """Exchange number `n` for the store's own tests; `changes` override any field."""
    # Three servers and DMs (guild None), and display names that two users share.
    values = dict(
        user_id=f"u{n % 5}",
        user_name=f"user{n % 5}",
        channel_id="c1",
        user_message=f"q{n}",
        bot_response=f"a{n}",
        model_used="claude-haiku-4-5",
        message_id=f"m{n}",
        input_tokens=3,
        output_tokens=4,
        guild_id=[None, "g1", "g2", "g3"][n % 4],
        display_name=f"Shared {n % 2}",
    )
    return Exchange(**{**values, **changes})


@pytest.fixture
def log_path(tmp_path):
    """conversation_logs.db with the 40 sample exchanges of tests/web.py (a quarter older than a day)."""
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path)
    return path


SMALL_LOG_ROWS = 20


@pytest.fixture
def small_log_path(tmp_path):
    """Like `log_path`, with only the first SMALL_LOG_ROWS (20) sample exchanges."""
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=SMALL_LOG_ROWS)
    return path


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
async def running_bot(settings: Settings, discord_server: FakeDiscord):
    async with open_service(settings) as service:
        bot = ConversationBot(settings, service, guild_ready_timeout=0.05)
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


@pytest.fixture
def members(discord_server):
    return (
        discord_server.add_member("alice", global_name="Alice A."),
        discord_server.add_member("bob"),
        discord_server.add_member("modmin", admin=True),
    )


@pytest.fixture
async def harness(settings, discord_server, claude, members):
    settings = replace(
        settings,
        chat_channel_ids=frozenset({int(discord_server.channels["chat"])}),
        cdn_origins=frozenset({discord_server.cdn_base}),
    )  # as DISCORD_CDN_BASE would
    async with running_bot(settings, discord_server) as (bot, service):
        yield Harness(discord_server, claude, settings, bot, service, *members)


async def chat(harness: Harness, user: FakeUser, *texts: str) -> None:
    """Post each text as `user`, mentioning the bot, and wait for each reply."""
    for text in texts:
        await harness.say(user, text, mention_bot=True)


def with_settings(harness: Harness, **changes) -> None:
    """Replace fields of the running cogs' settings (the Help cog has none)."""
    for cog in harness.bot.cogs.values():
        if hasattr(cog, "settings"):
            cog.settings = replace(cog.settings, **changes)
