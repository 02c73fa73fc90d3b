"""Running without the privileged Message Content intent: after Discord's 4014, or by setting."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.config.settings import Settings
from bot.discord_front.bot import WITHOUT_CONTENT
from tests.support.fake_gateway import MESSAGE_CONTENT_INTENT
from tests.support.harness import bot_through_run_bot
from tests.support.logs import log_rows


async def test_refused_intent_reconnects_without_it_and_keeps_working(settings, discord_server, members, caplog):
    alice, bob, _ = members
    discord_server.refused_intents = MESSAGE_CONTENT_INTENT  # the developer portal left it off
    with caplog.at_level(logging.WARNING, logger="bot.discord_front.bot"):
        async with bot_through_run_bot(settings, discord_server, connections=2) as bot:
            first, second = discord_server.identifies
            assert first["intents"] & MESSAGE_CONTENT_INTENT and not second["intents"] & MESSAGE_CONTENT_INTENT
            assert not bot.intents.message_content

            await discord_server.user_says(bob, "!stats")  # arrives without its text: not a command now
            stats = await discord_server.user_slash(bob, "stats")
            [answer] = stats.messages
            assert answer.embeds[0]["title"] == "Conversation statistics"

            await discord_server.user_says(alice, "hello without the intent", mention_bot=True)
            [reply] = await discord_server.wait_for_sent(1)
            assert reply.content == "Echo #1: hello without the intent"
            assert len(discord_server.sent) == 1  # the !stats got no answer in the channel
    assert [r["user_message"] for r in log_rows(settings)] == ["hello without the intent"]
    assert [r.getMessage() for r in caplog.records].count(WITHOUT_CONTENT) == 1


async def test_without_the_intent_server_text_arrives_only_when_it_mentions_the_bot(settings, discord_server, members):
    _alice, bob, _ = members
    settings = replace(
        settings, message_content=False, chat_channel_ids=frozenset({int(discord_server.channels["chat"])})
    )
    async with bot_through_run_bot(settings, discord_server):
        assert not discord_server.identify["intents"] & MESSAGE_CONTENT_INTENT
        await discord_server.user_says(bob, "in the chat channel, unmentioned", channel="chat")
        await discord_server.user_says(bob, "a DM still has its text", dm=True)
        [reply] = await discord_server.wait_for_sent(1)
        assert reply.content == "Echo #1: a DM still has its text"
        delivered = [e["d"]["content"] for e in discord_server.events if e["t"] == "MESSAGE_CREATE"]
        assert delivered[0] == ""  # Discord withholds it, as the fake does
    assert [r["user_message"] for r in log_rows(settings)] == ["a DM still has its text"]


def test_message_content_setting():
    assert Settings.from_env({}, dotenv_path=None).message_content is True
    assert Settings.from_env({"DISCORD_MESSAGE_CONTENT": "off"}, dotenv_path=None).message_content is False
