"""What Discord refuses that no schema says, and how the bot's answer still arrives: replies to
deleted messages (fail_if_not_exists), replies without Read Message History (160002), and the
Message Content intent's four exceptions (discord-api-docs: message.mdx, gateway.mdx)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest

from bot.discord_front.live_reply import WRITING_MARK
from tests.support.fake_discord import READ_MESSAGE_HISTORY
from tests.support.fake_gateway import MESSAGE_CONTENT_INTENT
from tests.support.harness import running_bot
from tests.support.logs import log_rows

WORDS = 40
PACE_S = 0.05  # 20 words a second: the reply streams for about 2 s, so it is edited after its first show


async def post(discord_server, channel_id: str, body: dict) -> tuple[int, dict]:
    """Create Message on the fake as the bot would (its REST route), returning (status, JSON body)."""
    url = f"{discord_server.api_base}/channels/{channel_id}/messages"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


# -- the fake refuses as Discord does -------------------------------------------------------------


async def test_a_reply_to_a_deleted_message_is_refused_unless_fail_if_not_exists_is_false(discord_server, members):
    alice = members[0]
    general = discord_server.channels["general"]
    gone = await discord_server.user_says(alice, "soon deleted")
    await discord_server.user_deletes(gone)

    status, body = await post(discord_server, general, {"content": "hi", "message_reference": {"message_id": gone}})
    assert (status, body) == (
        400,
        {
            "code": 50035,
            "message": "Invalid Form Body",
            "errors": {
                "message_reference": {
                    "_errors": [{"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]
                }
            },
        },
    )
    status, body = await post(
        discord_server,
        general,
        {"content": "hi", "message_reference": {"message_id": "1234", "fail_if_not_exists": True}},
    )  # an id that never existed: the same
    assert status == 400 and "message_reference" in body["errors"]

    status, body = await post(
        discord_server,
        general,
        {"content": "hi", "message_reference": {"message_id": gone, "fail_if_not_exists": False}},
    )
    assert status == 200 and body["type"] == 0 and "message_reference" not in body  # a normal message
    assert discord_server.sent[-1].reference is None


async def test_the_bot_deletes_its_own_messages_only(discord_server, members):
    alice = members[0]
    general = discord_server.channels["general"]
    _, own = await post(discord_server, general, {"content": "mine"})
    theirs = await discord_server.user_says(alice, "alice's")
    async with aiohttp.ClientSession() as session:
        url = f"{discord_server.api_base}/channels/{general}/messages"
        async with session.delete(f"{url}/{theirs}") as refused:
            assert (refused.status, (await refused.json())["code"]) == (403, 50013)  # no Manage Messages
        async with session.delete(f"{url}/{own['id']}") as deleted:
            assert deleted.status == 204
        async with session.delete(f"{url}/{own['id']}") as again:
            assert (again.status, (await again.json())["code"]) == (404, 10008)
        async with session.patch(f"{url}/{own['id']}", json={"content": "edited"}) as edit:
            assert edit.status == 404  # a deleted message takes no edit either
    assert [e["d"]["id"] for e in discord_server.events if e["t"] == "MESSAGE_DELETE"] == [own["id"]]


async def test_a_reply_without_read_message_history_is_refused_with_160002(discord_server, members):
    alice = members[0]
    general = discord_server.channels["general"]
    asked = await discord_server.user_says(alice, "hello")
    await discord_server.deny_bot("general", READ_MESSAGE_HISTORY)

    status, body = await post(discord_server, general, {"content": "hi", "message_reference": {"message_id": asked}})
    assert (status, body) == (
        403,
        {"code": 160002, "message": "Cannot reply without permission to read message history"},
    )
    status, _ = await post(discord_server, general, {"content": "a plain message needs no history"})
    assert status == 200
    status, _ = await post(
        discord_server, discord_server.channels["chat"], {"content": "hi", "message_reference": {"message_id": asked}}
    )
    assert status == 200  # the overwrite is #general's only


# -- the bot's answer still arrives, logged once --------------------------------------------------


async def answered_rows(harness) -> list[dict]:
    """The log once every row has its reply's id (recorded just after the final edit)."""
    for _ in range(100):
        rows = harness.rows()
        if rows and all(row["reply_message_id"] for row in rows):
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"no reply id recorded: {harness.rows()}")


def delete_while_claude_answers(harness, message_ids: list[str], answer: str):
    """Claude's reply_text: the asker deletes their message as soon as Claude has been asked."""

    def reply_text(body):
        asyncio.get_running_loop().create_task(harness.discord.user_deletes(message_ids[0]))
        return answer

    return reply_text


async def test_an_answer_to_a_message_deleted_meanwhile_arrives_as_a_plain_message_logged_once(harness):
    asked: list[str] = []
    harness.claude.reply_text = delete_while_claude_answers(harness, asked, "the answer")
    before = len(harness.discord.sent)
    asked.append(await harness.discord.user_says(harness.alice, "quick question", mention_bot=True))
    [answer] = (await harness.discord.wait_for_sent(before + 1))[before:]

    assert asked[0] not in harness.discord.messages  # it was gone before the bot answered
    assert answer.content == "the answer" and answer.reference is None
    [row] = await answered_rows(harness)
    assert row["user_message"] == "quick question" and row["reply_message_id"] == answer.id


async def test_an_answer_without_read_message_history_arrives_as_a_plain_message_logged_once(harness):
    await harness.discord.deny_bot("general", READ_MESSAGE_HISTORY)
    [answer] = await harness.say(harness.alice, "can you read the history?", mention_bot=True)
    general = harness.bot.get_channel(int(harness.discord.channels["general"]))
    mine = general.permissions_for(general.guild.me)  # discord.py's view, from CHANNEL_UPDATE's overwrite
    assert mine.send_messages and not mine.read_message_history

    assert answer.content == "Echo #1: can you read the history?" and answer.reference is None
    [row] = await answered_rows(harness)
    assert row["reply_message_id"] == answer.id
    [reply_in_chat] = await harness.say(harness.alice, "and here?", channel="chat")
    assert reply_in_chat.reference is not None  # elsewhere it still replies


@pytest.mark.parametrize("refusal", ["deleted", "no history"])
async def test_a_streamed_reply_keeps_being_edited_after_its_reply_was_refused(harness, refusal):
    answer = " ".join(f"word{i}" for i in range(WORDS))
    asked: list[str] = []
    if refusal == "deleted":
        harness.claude.reply_text = delete_while_claude_answers(harness, asked, answer)
    else:
        harness.claude.reply_text = lambda body: answer
        await harness.discord.deny_bot("general", READ_MESSAGE_HISTORY)
    harness.claude.words_per_delta, harness.claude.stream_delay = 1, PACE_S
    before = len(harness.discord.sent)
    asked.append(await harness.discord.user_says(harness.alice, "stream it", mention_bot=True))
    [reply] = (await harness.discord.wait_for_sent(before + 1))[before:]

    shown = [content for _, content in reply.versions]
    assert reply.reference is None and shown[-1] == answer
    assert len(shown) >= 3 and all(text.endswith(WRITING_MARK) for text in shown[:-1])  # sent, then edited
    assert [r["bot_response"] for r in harness.rows()] == [answer]


# -- the Message Content intent's four exceptions, exactly -----------------------------------------


async def test_without_the_intent_a_reply_to_the_bot_with_its_ping_off_arrives_blank(settings, discord_server, members):
    alice = members[0]
    settings = replace(settings, message_content=False)
    async with running_bot(settings, discord_server):
        assert not discord_server.identify["intents"] & MESSAGE_CONTENT_INTENT
        await discord_server.user_says(alice, "first", mention_bot=True)
        [first] = await discord_server.wait_for_sent(1)
        picture = discord_server.attach("cat.png", b"\x89PNG", "image/png")
        quiet = await discord_server.user_says(
            alice, "unpinged reply", reply_to=first.id, ping=False, attachments=[picture]
        )
        pinged = await discord_server.user_says(alice, "pinged reply", reply_to=first.id)
        mentioned = await discord_server.user_says(alice, "a mention", mention_bot=True)
        dm = await discord_server.user_says(alice, "a DM", dm=True)
        answers = await discord_server.wait_for_sent(5)

        delivered = {e["d"]["id"]: e["d"] for e in discord_server.events if e["t"] == "MESSAGE_CREATE"}
        assert {key: delivered[quiet][key] for key in ("content", "embeds", "attachments", "components")} == {
            "content": "",
            "embeds": [],
            "attachments": [],
            "components": [],
        }
        assert [delivered[m]["content"] for m in (pinged, mentioned, dm)] == [
            "pinged reply",
            f"<@{discord_server.bot_user.id}> a mention",
            "a DM",
        ]
        assert all(delivered[m.id]["content"] == m.content for m in answers)  # the bot's own: kept
        # The unpinged reply gets a hint instead of an answer to an empty text; nothing is logged for it.
        hint = next(m for m in answers if m.reference and str(m.reference["message_id"]) == quiet)
        assert "ping" in hint.content
    # Answered concurrently, so in any order; the unpinged reply is not among them.
    assert sorted(r["user_message"] for r in log_rows(settings)) == ["a DM", "a mention", "first", "pinged reply"]
