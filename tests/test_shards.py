"""BOT_SHARDS: several gateway connections, each carrying the servers Discord assigns to it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.config.settings import ConfigError, Settings, Shards
from bot.discord_front.bot import ShardedConversationBot
from tests.support.fake_gateway import MESSAGE_CONTENT_INTENT, shard_of
from tests.support.fake_ratelimit import ChannelLimits
from tests.support.harness import bot_through_run_bot, servers_on_both_shards
from tests.support.logs import log_rows


async def test_two_shards_each_carry_their_servers_and_every_message_is_logged_once(settings, discord_server, members):
    alice = members[0]
    on_0, on_1 = servers_on_both_shards(discord_server)
    for guild in (on_0, on_1):
        discord_server.join(alice, guild)
    discord_server.recommended_shards = 2  # BOT_SHARDS=auto asks GET /gateway/bot
    settings = replace(settings, shards=Shards(None))
    async with bot_through_run_bot(settings, discord_server) as bot:
        assert isinstance(bot, ShardedConversationBot) and bot.shard_count == 2
        assert sorted(tuple(i["shard"]) for i in discord_server.identifies) == [(0, 2), (1, 2)]
        assert {g.id: g.shard_id for g in bot.guilds} == {int(g.id): shard_of(g.id, 2) for g in discord_server.guilds}
        for number, guild in enumerate((on_0, on_1, on_0, on_1)):
            await discord_server.user_says(alice, f"message {number}", mention_bot=True, guild=guild)
            await discord_server.wait_for_sent(number + 1)
        await discord_server.user_says(alice, "a DM, on shard 0", dm=True)
        await discord_server.wait_for_sent(5)
    rows = log_rows(settings)
    assert [r["user_message"] for r in rows] == [f"message {n}" for n in range(4)] + ["a DM, on shard 0"]
    assert [r["guild_id"] for r in rows[:4]] == [on_0.id, on_1.id, on_0.id, on_1.id]


async def test_this_process_runs_only_its_shard_ids(settings, discord_server, members):
    _on_0, _on_1 = servers_on_both_shards(discord_server)
    settings = replace(settings, shards=Shards(2, (1,)))
    async with bot_through_run_bot(settings, discord_server) as bot:
        assert [i["shard"] for i in discord_server.identifies] == [[1, 2]]
        assert {g.id for g in bot.guilds} == {int(g.id) for g in discord_server.guilds if shard_of(g.id, 2) == 1}


def test_shard_settings():
    def shards(**env):
        return Settings.from_env(env, dotenv_path=None).shards

    assert shards() is None
    assert shards(BOT_SHARDS="auto") == Shards(None)
    assert shards(BOT_SHARDS="4", BOT_SHARD_IDS="2,3") == Shards(4, (2, 3))
    for bad, named in [
        ({"BOT_SHARDS": "many"}, "BOT_SHARDS"),
        ({"BOT_SHARDS": "2", "BOT_SHARD_IDS": "2"}, "below"),
        ({"BOT_SHARD_IDS": "1"}, "needs BOT_SHARDS"),
        ({"BOT_SHARDS": "0"}, "BOT_SHARDS"),
    ]:
        with pytest.raises(ConfigError, match=named):
            shards(**bad)


async def test_two_bots_one_shard_each_write_one_log_file(settings, discord_server, members):
    """Two processes' worth of bots (each its own service, writer thread and SQLite connections) on
    one WAL file: SQLite serialises their commits, and every message is logged exactly once."""
    alice, bob, _ = members
    on_0, on_1 = servers_on_both_shards(discord_server)
    for guild in (on_0, on_1):
        discord_server.join(alice, guild)
        discord_server.join(bob, guild)
    discord_server.limits = ChannelLimits(limit=1000)  # about the log, not Discord's pacing
    first = replace(settings, shards=Shards(2, (0,)))
    second = replace(settings, shards=Shards(2, (1,)), memory_db=settings.memory_db.with_name("memory_2.db"))
    async with bot_through_run_bot(first, discord_server), bot_through_run_bot(second, discord_server):
        for number in range(20):  # both bots busy at once: no waiting between messages
            await discord_server.user_says(
                (alice, bob)[number % 2], f"burst {number}", mention_bot=True, guild=(on_0, on_1)[number // 2 % 2]
            )
        await discord_server.wait_for_sent(20)
    rows = log_rows(settings)
    assert sorted(r["user_message"] for r in rows) == sorted(f"burst {n}" for n in range(20))
    assert len({r["message_id"] for r in rows}) == 20
    assert {r["guild_id"] for r in rows} == {on_0.id, on_1.id}


async def test_sharded_bot_falls_back_without_the_refused_intent_too(settings, discord_server, members):
    discord_server.refused_intents = MESSAGE_CONTENT_INTENT
    _on_0, on_1 = servers_on_both_shards(discord_server)
    discord_server.join(members[0], on_1)
    settings = replace(settings, shards=Shards(2))
    async with bot_through_run_bot(settings, discord_server, connections=2) as bot:
        assert not bot.intents.message_content and bot.shard_count == 2
        await discord_server.user_says(members[0], "on shard 1", mention_bot=True, guild=on_1)
        [reply] = await discord_server.wait_for_sent(1)
        assert reply.content == "Echo #1: on shard 1"
