"""Owner-only lines (issue 20, 6): the replica's URL and state, which `!stats` and `/stats` show the
bot's owners, never reach everyone in a server channel. In a DM they are in the embed; in a server
`/stats` adds them as an ephemeral follow-up and `!stats` sends them by DM."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.replica.replicator import Replicator
from tests.support.harness import running_bot
from tests.support.replica_fixtures import replicated_settings

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser


def field_names(embeds: list) -> set[str]:
    return {f["name"] for embed in embeds for f in embed.get("fields", [])}


@pytest.fixture
def owner_settings(tmp_path, settings, discord_server):
    """A replicated deployment (no Litestream running: the line then says nothing was replicated yet)."""
    owner = discord_server.add_member("botowner")
    replicated = replicated_settings(tmp_path, f"file://{tmp_path}/replica")
    return owner, replace(
        settings,
        log_db=replicated.log_db,
        memory_db=replicated.memory_db,
        replica=replicated.replica,
        owner_ids=frozenset({int(owner.id)}),
    )


async def test_an_owners_stats_in_a_channel_keeps_the_replica_line_private(owner_settings, discord_server, members):
    owner, settings = owner_settings
    async with running_bot(settings, discord_server):
        await discord_server.user_says(owner, "!stats")
        [in_channel] = (await discord_server.wait_for_sent(1))[:1]
        assert in_channel.channel_id == discord_server.channels["general"]
        assert "Replica" not in field_names(in_channel.embeds) and "file://" not in json.dumps(in_channel.embeds)
        await discord_server.wait_for_sent(2)
        await discord_server.user_says(owner, "!stats", dm=True)
        await discord_server.wait_for_sent(3)
        slashed = await discord_server.user_slash(owner, "stats", replies=1)
        await discord_server.interactions.wait_for_answers(slashed, 2)

    _, by_dm, in_dm = discord_server.sent
    assert by_dm.channel_id == discord_server.dm_channel_id
    assert by_dm.embeds[0]["title"] == "Replica" and "file://" in by_dm.embeds[0]["description"]
    assert in_dm.channel_id == discord_server.dm_channel_id and "Replica" in field_names(in_dm.embeds)
    public, private = slashed.messages
    assert not public.ephemeral and "file://" not in json.dumps(public.embeds)
    assert public.embeds[0]["title"] == "Conversation statistics"  # the figures themselves stay in the channel
    assert private.ephemeral and "file://" in private.embeds[0]["description"]


async def test_an_owner_with_closed_dms_is_told_where_to_ask_and_the_channel_sees_no_url(
    owner_settings, discord_server, members
):
    owner, settings = owner_settings
    discord_server.refuse_send[discord_server.dm_channel_id] = 403  # Discord: 403 for closed DMs
    async with running_bot(settings, discord_server):
        await discord_server.user_says(owner, "!stats")
        [stats] = (await discord_server.wait_for_sent(1))[:1]
        assert "file://" not in json.dumps(stats.embeds)
        await discord_server.wait_for_sent(2)

    stats, notice = discord_server.sent
    assert {stats.channel_id, notice.channel_id} == {discord_server.channels["general"]}
    assert notice.content.startswith("I could not send you the replica's state by DM")
    assert "file://" not in json.dumps([stats.embeds, notice.content])


async def test_the_owners_stats_reads_the_replicator_the_bot_was_given(owner_settings, discord_server, members):
    """The bot is handed its Replicator at start (no process-wide registry): !stats shows what that one
    measured. A Replicator not started has measured nothing yet; without one, the line says it is elsewhere."""
    owner, settings = owner_settings
    async with running_bot(settings, discord_server, replica=Replicator(settings)):
        await discord_server.user_says(owner, "!stats", dm=True)
        [given] = await discord_server.wait_for_sent(1)
    async with running_bot(settings, discord_server):
        await discord_server.user_says(owner, "!stats", dm=True)
        elsewhere = (await discord_server.wait_for_sent(2))[1]
    assert "lag not measured yet" in json.dumps(given.embeds), given.embeds
    assert "lag not measured here" in json.dumps(elsewhere.embeds), elsewhere.embeds
