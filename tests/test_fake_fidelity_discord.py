"""Fake fidelity: the loopback Discord answers what real Discord answers. Every REST answer the bot gets
in a realistic session is validated against the response schemas of Discord's OpenAPI spec (the subset in
tests/support/contracts), every gateway payload against the objects Discord's docs define, and bodies the spec
forbids are refused as Discord refuses them. A fake that drifts from the contract fails here."""

from __future__ import annotations

import json
from dataclasses import replace

import aiohttp
import pytest

from tests.support.contracts.discord_rest import gateway_problems, spec
from tests.support.fake_discord import snowflake
from tests.support.fake_ratelimit import ChannelLimits
from tests.support.harness import Harness, chat, running_bot, with_settings


@pytest.fixture
async def checked(settings, discord_server, claude, members):
    """A running bot whose fake checks every REST answer against the spec, from the first request on."""
    discord_server.contract.check_responses = True
    # A thread that was there before the bot connected: GUILD_CREATE lists it (the adoption reads it).
    discord_server.add_thread(snowflake(), discord_server.channels["general"], "standing", members[0])
    settings = replace(settings, chat_channel_ids=frozenset({int(discord_server.channels["chat"])}))
    async with running_bot(settings, discord_server) as (bot, service):
        yield Harness(discord_server, claude, settings, bot, service, *members)


async def a_session(h: Harness) -> None:
    """What a server sees in a day: chat, a reply to the bot, a thread, slash commands, a file, a button
    pressed and one left to time out."""
    await chat(h, h.alice, "hello")
    await h.say(h.bob, "and you?", reply_to=h.discord.sent[-1].id)
    topic = await h.discord.user_says(h.bob, "a thread about this")
    await h.say(h.bob, "in the thread", thread=await h.discord.start_thread(topic, "topic", h.bob), mention_bot=True)
    interactions = h.discord.interactions
    await interactions.user_slash(h.alice, "stats")
    await interactions.user_slash(h.alice, "export")
    forget = await interactions.user_slash(h.alice, "forget")
    await interactions.press(h.alice, forget.original)
    await interactions.wait_for_answers(forget, 2)
    with_settings(h, confirm_seconds=0.1)
    await interactions.user_slash(h.alice, "forget", replies=2)  # not confirmed: PATCH @original


async def what_the_bot_does_not_send(h: Harness) -> None:
    """The routes the fake serves that this session leaves out, called as discord.py would: reading,
    editing and reacting to a message, reading and deleting an interaction's original answer, the gateway's
    address (discord.py asks only when not pointed at one), one server's commands (DISCORD_COMMAND_GUILD_ID),
    opening a DM (an owner's private !stats line), deleting a message, meeting a 429, and asking where a
    channel is (the adoption of the original bot's log: a DM, a server's channel, a thread, one that is gone)."""
    message = h.discord.sent[0]
    interaction = next(iter(h.discord.interactions.by_id.values()))
    messages = f"{h.discord.api_base}/channels/{message.channel_id}/messages"
    original = f"{h.discord.api_base}/webhooks/{h.discord.bot_user.id}/{interaction.token}/messages/@original"
    h.discord.limits = ChannelLimits(limit=1, per=60.0)
    async with aiohttp.ClientSession() as session:
        for method, url, body in [
            ("GET", f"{messages}/{message.id}", None),
            ("PATCH", f"{messages}/{message.id}", {"content": "edited"}),
            ("PATCH", f"{messages}/{message.id}", {"content": "429"}),
            ("PUT", f"{messages}/{message.id}/reactions/%E2%9C%85/@me", None),
            ("GET", original, None),
            ("DELETE", original, None),
            ("GET", f"{h.discord.api_base}/gateway/bot", None),
            (
                "PUT",
                f"{h.discord.api_base}/applications/{h.discord.bot_user.id}/guilds/{h.discord.guild_id}/commands",
                [{"name": "stats", "description": "Statistics"}],
            ),
            ("POST", f"{h.discord.api_base}/users/@me/channels", {"recipient_id": h.alice.id}),
            ("DELETE", f"{messages}/{message.id}", None),
            *[
                ("GET", f"{h.discord.api_base}/channels/{channel}", None)
                for channel in (h.discord.dm_channel_id, message.channel_id, *h.discord.threads, snowflake())
            ],
        ]:
            async with session.request(method, url, json=body) as response:
                await response.read()


async def test_every_rest_answer_matches_the_spec_response_schema(checked):
    await a_session(checked)
    await what_the_bot_does_not_send(checked)
    contract = checked.discord.contract
    assert contract.violations == []
    operations = {(method, path) for path, item in spec()["paths"].items() for method in item if method != "parameters"}
    assert operations == {(method, path) for method, path, _status in contract.checked}  # every route served
    assert ("patch", "/channels/{channel_id}/messages/{message_id}", 429) in contract.checked  # its body too


async def test_every_gateway_payload_has_the_fields_discords_docs_require(checked):
    await a_session(checked)
    events = checked.discord.events
    covered = {"READY", "GUILD_CREATE", "MESSAGE_CREATE", "THREAD_CREATE", "INTERACTION_CREATE"}
    assert covered <= {e["t"] for e in events}
    assert [problem for e in events for problem in gateway_problems(e["t"], e["d"])] == []
    assert any(e["d"]["threads"] for e in events if e["t"] == "GUILD_CREATE")  # the standing thread was checked


def test_a_guild_create_thread_without_its_metadata_is_caught(discord_server):
    """The GUILD_CREATE check reaches into its threads: one the docs would refuse is named."""
    thread = discord_server.add_thread(snowflake(), discord_server.channels["general"], "t", discord_server.owner)
    discord_server.identify = {"intents": 0}
    guild = discord_server._guild_payload(discord_server.guilds[0])
    assert gateway_problems("GUILD_CREATE", guild) == []
    del discord_server.thread_payloads[thread]["thread_metadata"]
    assert any(
        "thread" in p for p in gateway_problems("GUILD_CREATE", discord_server._guild_payload(discord_server.guilds[0]))
    )


async def put_commands(discord_server, body) -> tuple[int, dict]:
    url = f"{discord_server.api_base}/applications/{discord_server.bot_user.id}/commands"
    async with aiohttp.ClientSession() as session, session.put(url, json=body) as response:
        return response.status, await response.json()


async def test_a_bulk_overwrite_with_one_bad_command_is_refused_whole_naming_the_field(discord_server):
    good = {"name": "stats", "description": "Statistics", "type": 1}
    status, body = await put_commands(discord_server, [good, {**good, "name": "export", "description": "x" * 101}])
    assert status == 400 and body == {
        "code": 50035,
        "message": "Invalid Form Body",
        "errors": {
            "1": {
                "description": {
                    "_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 1 and 100 in length."}]
                }
            }
        },
    }
    assert discord_server.interactions.commands.registered == {}  # not even the good one


async def test_a_message_body_of_the_wrong_type_is_refused_naming_the_field(discord_server):
    url = f"{discord_server.api_base}/channels/{discord_server.channels['general']}/messages"
    form = aiohttp.FormData()
    form.add_field("payload_json", json.dumps({"content": 42}))  # multipart, as discord.py sends files
    form.add_field("files[0]", b"data", filename="a.txt")
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as response:
        assert response.status == 400
        assert (await response.json())["errors"] == {
            "content": {"_errors": [{"code": "BASE_TYPE_INVALID", "message": "Must be of type string or null."}]}
        }
    assert discord_server.sent == []


async def test_a_route_the_fake_does_not_know_is_refused_not_accepted(discord_server):
    channel = discord_server.channels["general"]
    async with aiohttp.ClientSession() as session:
        async with session.delete(f"{discord_server.api_base}/channels/{channel}/messages") as response:
            assert (response.status, await response.json()) == (405, {"code": 0, "message": "405: Method Not Allowed"})
        async with session.get(f"{discord_server.api_base}/guilds/{discord_server.guild_id}/bans") as response:
            assert (response.status, await response.json()) == (404, {"code": 0, "message": "404: Not Found"})
