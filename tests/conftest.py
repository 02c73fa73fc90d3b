"""Fixtures only, the helpers are in tests/support/: real SQLite files in temp dirs, loopback fakes of Discord
and Anthropic."""

from __future__ import annotations

from dataclasses import replace

import discord
import pytest
import yarl
from datasette_auth_passwords.utils import hash_password

from bot.config.settings import Settings
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_discord import FakeDiscord
from tests.support.harness import Harness, running_bot
from tests.support.logs import SMALL_LOG_ROWS
from tests.support.web import write_sample_log
from tests.support.web_auth import FAST, PASSWORD


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


@pytest.fixture
def log_path(tmp_path):
    """conversation_logs.db with the 40 sample exchanges of tests/support/web.py (a quarter older than a day)."""
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path)
    return path


@pytest.fixture
def small_log_path(tmp_path):
    """Like `log_path`, with only the first SMALL_LOG_ROWS (20) sample exchanges."""
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=SMALL_LOG_ROWS)
    return path


TINY_LOG_ROWS = 5  # the web security tests check who may read, not what the pages count


@pytest.fixture
def tiny_log_path(tmp_path):
    """Like `log_path`, with only the first TINY_LOG_ROWS (5) sample exchanges."""
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=TINY_LOG_ROWS)
    return path


@pytest.fixture
def web_env(monkeypatch):
    """The login a deployment turns on: a password hash, no public pages, no proxy in front."""
    monkeypatch.setenv("DATASETTE_REQUIRE_LOGIN", "1")
    monkeypatch.setenv("DATASETTE_PASSWORD_HASH", hash_password(PASSWORD, iterations=FAST))
    monkeypatch.delenv("DATASETTE_PUBLIC", raising=False)
    monkeypatch.delenv("DATASETTE_BEHIND_PROXY", raising=False)
    return monkeypatch


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
