"""A message's whole path: fake Discord → bot → fake Claude → reply → a row in the log, with no row lost."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace

import pytest

from bot.core.service import Incoming, open_service
from tests.support.fake_ratelimit import ChannelLimits
from tests.support.harness import running_bot
from tests.support.logs import log_rows


async def test_mention_is_answered_and_logged_with_tokens_and_model(harness):
    [reply] = await harness.say(harness.alice, "hello there", mention_bot=True)

    assert reply.content == "Echo #1: hello there"
    [row] = harness.rows()
    assert row["user_id"] == harness.alice.id
    assert row["user_name"] == "alice"
    assert row["display_name"] == "Alice A."
    assert row["channel_id"] == harness.discord.channels["general"]
    assert row["guild_id"] == harness.discord.guild_id
    assert row["user_message"] == "hello there"
    assert row["bot_response"] == "Echo #1: hello there"
    assert row["model_used"] == "claude-haiku-4-5"
    # The fake counts words: 2 in the message + the system prompt's words.
    system_words = len(harness.settings.system_prompt.split())
    assert row["input_tokens"] == 2 + system_words
    assert row["output_tokens"] == 4
    assert row["tokens_used"] == row["input_tokens"] + row["output_tokens"]


async def test_answers_in_dms_and_configured_channels_without_a_mention(harness):
    [dm_reply] = await harness.say(harness.alice, "in a DM", dm=True)
    [chat_reply] = await harness.say(harness.alice, "in the chat channel", channel="chat")

    assert dm_reply.channel_id == harness.discord.dm_channel_id
    assert chat_reply.channel_id == harness.discord.channels["chat"]
    assert [row["guild_id"] for row in harness.rows()] == [None, harness.discord.guild_id]


async def test_ignores_unaddressed_messages_bots_and_itself(harness):
    helper_bot = harness.discord.add_member("otherbot", bot=True)
    await harness.discord.user_says(harness.alice, "just chatting, not to the bot")
    await harness.discord.user_says(helper_bot, "beep", mention_bot=True)
    await harness.discord.user_says(harness.discord.bot_user, "my own words", mention_bot=True)
    # A message that must be answered, sent last: once its reply is here the others were seen.
    await harness.say(harness.bob, "ping", mention_bot=True)

    assert [row["user_message"] for row in harness.rows()] == ["ping"]
    assert len(harness.discord.sent) == 1


async def test_second_turn_sends_the_first_as_context_in_one_thread(harness):
    await harness.say(harness.alice, "my name is Alice", mention_bot=True)
    [reply] = await harness.say(harness.alice, "what is my name?", mention_bot=True)

    sent_to_claude = harness.claude.requests[-1]["messages"]
    assert sent_to_claude == [
        {"role": "user", "content": "my name is Alice"},
        {"role": "assistant", "content": "Echo #1: my name is Alice"},
        {"role": "user", "content": "what is my name?"},
    ]
    assert harness.claude.requests[-1]["system"] == harness.settings.system_prompt
    assert reply.content == "Echo #2: what is my name?"
    first, second = harness.rows()
    assert first["conversation_id"] == second["conversation_id"] is not None
    # Another user in the same channel has a thread of their own.
    await harness.say(harness.bob, "hi", mention_bot=True)
    assert harness.claude.requests[-1]["messages"] == [{"role": "user", "content": "hi"}]
    assert harness.rows()[-1]["conversation_id"] != first["conversation_id"]


async def test_long_reply_is_split_not_cut_and_shows_typing(harness):
    long_text = " ".join(f"word{i}" for i in range(900))  # about 7,000 characters
    harness.claude.reply_text = lambda body: long_text
    chunks = await harness.say(harness.alice, "tell me a lot", mention_bot=True, replies=4)

    assert all(len(chunk.content) <= 2000 for chunk in chunks)
    assert " ".join(chunk.content for chunk in chunks) == long_text
    assert chunks[0].reference is not None  # the first chunk replies to the user's message
    assert harness.rows()[0]["bot_response"] == long_text
    assert harness.discord.channels["general"] in harness.discord.typing


async def test_replies_cannot_ping_everyone(harness):
    harness.claude.reply_text = lambda body: "@everyone look at this"
    [reply] = await harness.say(harness.alice, "say everyone", mention_bot=True)
    assert reply.allowed_mentions["parse"] == []  # nothing in the text may ping
    assert reply.pinged == {harness.alice.id}  # only the asker, through the reply


async def test_commands_are_not_logged_as_conversations(harness):
    await harness.say(harness.alice, "!stats")
    await harness.say(harness.alice, "!history")
    assert harness.rows() == []


async def test_empty_mention_gets_a_hint_and_is_not_logged(harness):
    [reply] = await harness.say(harness.alice, "", mention_bot=True)
    assert "empty message" in reply.content
    assert harness.rows() == []
    assert harness.claude.hits == 0


async def test_huge_and_odd_text_and_injection_names_are_kept_exactly(harness):
    tricky = harness.discord.add_member("Robert'); DROP TABLE conversations;--", global_name="<b>💥</b>")
    texts = [
        "x" * 4000,
        "emoji 🎉👩‍👩‍👧 RTL مرحبا بالعالم שלום and a NUL \x00 in the middle",
        "'; DELETE FROM conversations; --",
    ]
    for text, chunks in zip(texts, (3, 1, 1), strict=True):
        await harness.say(tricky, text, mention_bot=True, replies=chunks)

    rows = harness.rows()
    assert [row["user_message"] for row in rows] == texts
    assert {row["user_name"] for row in rows} == {"Robert'); DROP TABLE conversations;--"}
    assert rows[0]["bot_response"] == "Echo #1: " + "x" * 4000


async def test_discord_refusing_the_reply_still_logs_the_exchange(harness, caplog):
    harness.discord.refuse_send[harness.discord.channels["general"]] = 403
    await harness.discord.user_says(harness.alice, "can you hear me?", mention_bot=True)
    # The row is written before the reply is sent, so wait for both: the row and the refusal's log line.
    for _ in range(100):
        if harness.rows() and "not delivered" in caplog.text:
            break
        await asyncio.sleep(0.05)

    assert [row["user_message"] for row in harness.rows()] == ["can you hear me?"]
    assert harness.discord.sent == []
    assert "not delivered" in caplog.text and "403" in caplog.text
    # The bot is still alive and answers elsewhere.
    [reply] = await harness.say(harness.alice, "and here?", channel="chat")
    assert reply.content.startswith("Echo")


async def test_fifty_users_at_once_lose_no_row(harness):
    # The log is under test here, not Discord's limit: at 5 sends/edits per 5 s in one channel the
    # 100 sends and edits would take 100 s (tests/test_streaming.py covers the limit).
    harness.discord.limits = ChannelLimits(limit=1000)
    users = [harness.discord.add_member(f"crowd{i}") for i in range(50)]
    before = len(harness.discord.sent)
    for user in users:
        await harness.discord.user_says(user, f"hello from {user.name}", mention_bot=True)
    await harness.discord.wait_for_sent(before + 50, timeout=30)

    rows = harness.rows()
    assert sorted(r["user_message"] for r in rows) == sorted(f"hello from crowd{i}" for i in range(50))
    assert len({r["message_id"] for r in rows}) == 50


async def test_a_restart_keeps_the_data(settings, discord_server, members, claude):
    alice = members[0]
    async with running_bot(settings, discord_server):
        await discord_server.user_says(alice, "before restart", mention_bot=True)
        await discord_server.wait_for_sent(1)
    async with running_bot(settings, discord_server):
        await discord_server.user_says(alice, "after restart", mention_bot=True)
        await discord_server.wait_for_sent(2)
    assert [r["user_message"] for r in log_rows(settings)] == ["before restart", "after restart"]
    # Memory survives too: the turn after the restart was sent with the one before as context.
    assert [m["content"] for m in claude.requests[-1]["messages"]] == [
        "before restart",
        "Echo #1: before restart",
        "after restart",
    ]


def chattr(flag: str, *paths) -> None:
    result = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"this filesystem cannot make files immutable: {result.stderr.strip()}")


async def test_database_made_read_only_mid_run_spools_then_replays(harness, caplog):
    await harness.say(harness.alice, "while writable", mention_bot=True)
    db = harness.settings.log_db
    wal = db.with_name(db.name + "-wal")
    chattr("+i", db, wal)  # immutable: read-only even for root
    try:
        await harness.say(harness.alice, "while read-only 1", mention_bot=True)
        await harness.say(harness.bob, "while read-only 2", mention_bot=True)
        spool = harness.service.store.spool.read()
    finally:
        chattr("-i", db, wal)
    assert [r["user_message"] for r in spool] == ["while read-only 1", "while read-only 2"]
    assert "spooling" in caplog.text

    await harness.say(harness.alice, "writable again", mention_bot=True)
    assert [r["user_message"] for r in harness.rows()] == [
        "while writable",
        "while read-only 1",
        "while read-only 2",
        "writable again",
    ]
    assert not harness.service.store.spool.path.exists()


async def test_memory_and_log_are_independent(settings, claude):
    async with open_service(settings) as service:
        message = Incoming(user_id="1", user_name="a", channel_id="c", text="remember me", message_id="x1")
        await service.chat(message)
        assert service.memory.forget() == 2
        await service.chat(replace(message, text="again", message_id="x2"))
        assert claude.requests[-1]["messages"] == [{"role": "user", "content": "again"}]
    assert len(log_rows(settings)) == 2
    settings.memory_db.unlink()
    async with open_service(settings) as service:
        await service.chat(replace(message, text="memory file gone", message_id="x3"))
    assert [r["user_message"] for r in log_rows(settings)] == ["remember me", "again", "memory file gone"]
    # ...and losing the log does not touch the memory.
    for suffix in ("", "-wal", "-shm"):
        settings.log_db.with_name(settings.log_db.name + suffix).unlink(missing_ok=True)
    async with open_service(settings) as service:
        await service.chat(replace(message, text="log file gone", message_id="x4"))
        assert claude.requests[-1]["messages"][0] == {"role": "user", "content": "memory file gone"}
