"""Fixtures: real SQLite files in temp dirs, loopback fakes of Discord and Anthropic."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import discord
import pytest
import yarl
from sqlite_utils import Database

from bot.discord_bot import ConversationBot
from bot.service import BotService, open_service
from bot.settings import Settings
from tests.fake_anthropic import FakeAnthropic
from tests.fake_discord import FakeDiscord, FakeUser, SentMessage


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


def log_rows(settings: Settings) -> list[dict]:
    with Database(settings.log_db) as db:
        return list(db["conversations"].rows_where(order_by="id"))


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
    settings = replace(settings, chat_channel_ids=frozenset({int(discord_server.channels["chat"])}))
    async with running_bot(settings, discord_server) as (bot, service):
        yield Harness(discord_server, claude, settings, bot, service, *members)
