"""A message's whole path: fake Discord → bot → fake Claude → reply → a row in the log."""

from __future__ import annotations

import asyncio


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
    for text, chunks in zip(texts, (3, 1, 1)):
        await harness.say(tricky, text, mention_bot=True, replies=chunks)

    rows = harness.rows()
    assert [row["user_message"] for row in rows] == texts
    assert {row["user_name"] for row in rows} == {"Robert'); DROP TABLE conversations;--"}
    assert rows[0]["bot_response"] == "Echo #1: " + "x" * 4000


async def test_discord_refusing_the_reply_still_logs_the_exchange(harness, caplog):
    harness.discord.refuse_send[harness.discord.channels["general"]] = 403
    await harness.discord.user_says(harness.alice, "can you hear me?", mention_bot=True)
    await harness.service.stats()  # any round trip; then wait for the writer below
    for _ in range(100):
        if harness.rows():
            break
        await asyncio.sleep(0.05)

    assert [row["user_message"] for row in harness.rows()] == ["can you hear me?"]
    assert harness.discord.sent == []
    assert "not delivered" in caplog.text and "403" in caplog.text
    # The bot is still alive and answers elsewhere.
    [reply] = await harness.say(harness.alice, "and here?", channel="chat")
    assert reply.content.startswith("Echo")
