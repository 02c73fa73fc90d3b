"""Reply chains and threads: a Discord reply to a bot message continues that conversation however
old it is, and a thread started from a bot reply does too; plain messages keep the time-based thread."""

from __future__ import annotations

import asyncio
import json

from bot.store import ConversationLog, chains
from bot.store.chains import Window
from bot.store.sqlite import sqlite3
from tests.support.harness import Harness
from tests.support.logs import exchange

TWO_HOURS_S = 2 * 3600


def age_everything(harness: Harness, seconds: int) -> None:
    """Move every logged exchange and memory turn `seconds` into the past, as if that time had gone by."""
    with sqlite3.connect(harness.settings.memory_db) as memory:
        memory.execute("update turns set created_at = created_at - ?", [seconds])
    with sqlite3.connect(harness.settings.log_db) as log:
        log.execute("update conversations set timestamp = datetime(timestamp, ?)", [f"-{seconds} seconds"])


async def recorded(harness: Harness, reply) -> None:
    """Wait until the log knows `reply` answered its exchange (recorded just after the reply completes)."""

    async def known():
        while reply.id not in {row["reply_message_id"] for row in harness.rows()}:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(known(), 5)


async def test_a_reply_to_a_two_hour_old_bot_message_continues_its_conversation(harness, tmp_path):
    [old_reply] = await harness.say(harness.alice, "remember the word tangerine", mention_bot=True)
    await recorded(harness, old_reply)
    age_everything(harness, TWO_HOURS_S)

    # A plain message two hours later starts a new conversation (the memory's time-to-live passed) ...
    await harness.say(harness.alice, "unrelated question", mention_bot=True)
    assert harness.claude.requests[-1]["messages"] == [{"role": "user", "content": "unrelated question"}]
    # ... but a reply to the old bot message continues the old one, with its exchange as context.
    [answer] = await harness.say(harness.alice, "which word was it?", reply_to=old_reply.id)

    assert harness.claude.requests[-1]["messages"] == [
        {"role": "user", "content": "remember the word tangerine"},
        {"role": "assistant", "content": "Echo #1: remember the word tangerine"},
        {"role": "user", "content": "which word was it?"},
    ]
    first, plain, reply = harness.rows()
    assert reply["conversation_id"] == first["conversation_id"] != plain["conversation_id"]
    assert reply["reply_to_message_id"] == old_reply.id == first["reply_message_id"]
    assert answer.reference["message_id"] in (reply["message_id"], int(reply["message_id"]))
    # The next reply, to the newest answer, follows the chain back through both.
    await recorded(harness, answer)
    await harness.say(harness.alice, "and before that?", reply_to=answer.id)
    assert [m["content"] for m in harness.claude.requests[-1]["messages"]][::2] == [
        "remember the word tangerine",
        "which word was it?",
        "and before that?",
    ]

    result = await harness.service.command_data.export(tmp_path, fmt="chat-jsonl")
    lines = [json.loads(line) for line in result.files[0].read_text().splitlines()]
    [chain] = [line for line in lines if line["conversation_id"] == first["conversation_id"]]
    assert [m["content"] for m in chain["messages"] if m["role"] == "user"] == [
        "remember the word tangerine",
        "which word was it?",
        "and before that?",
    ]
    assert len(lines) == 2  # the chain, and the unrelated plain message


async def test_a_reply_to_someone_elses_message_keeps_the_time_based_thread(harness):
    await harness.say(harness.alice, "first", mention_bot=True)
    other = await harness.discord.user_says(harness.bob, "a user's message, not the bot's")
    await harness.say(harness.alice, "replying to bob", mention_bot=True, reply_to=other)

    first, second = harness.rows()
    assert second["conversation_id"] == first["conversation_id"]
    assert second["reply_to_message_id"] is None


async def test_a_thread_started_from_a_bot_reply_continues_its_conversation(harness):
    [reply] = await harness.say(harness.alice, "let us plan a trip", mention_bot=True)
    await recorded(harness, reply)
    age_everything(harness, TWO_HOURS_S)
    thread = await harness.discord.start_thread(reply.id, "trip planning", harness.bob)

    [in_thread] = await harness.say(harness.bob, "where to?", mention_bot=True, thread=thread)
    assert in_thread.channel_id == thread
    assert [m["content"] for m in harness.claude.requests[-1]["messages"]] == [
        "let us plan a trip",
        "Echo #1: let us plan a trip",
        "where to?",
    ]
    await harness.say(harness.alice, "somewhere warm", mention_bot=True, thread=thread)
    assert [m["content"] for m in harness.claude.requests[-1]["messages"]][::2] == [
        "let us plan a trip",
        "where to?",
        "somewhere warm",
    ]

    start, first, second = harness.rows()
    assert start["conversation_id"] == first["conversation_id"] == second["conversation_id"]
    assert first["channel_id"] == second["channel_id"] == thread
    assert first["reply_to_message_id"] == reply.id


async def test_discord_serves_a_replied_message_with_its_final_edit(harness):
    # GET /channels/{id}/messages/{id} through discord.py: what a client fetching the chain would see.
    harness.claude.words_per_delta, harness.claude.stream_delay = 1, 0.05
    harness.claude.reply_text = lambda body: " ".join(f"w{i}" for i in range(30))
    [reply] = await harness.say(harness.alice, "long enough to be edited", mention_bot=True)
    assert len(reply.versions) >= 2  # posted while streaming, then edited
    channel = harness.bot.get_channel(int(reply.channel_id))
    fetched = await channel.fetch_message(int(reply.id))
    assert fetched.content == reply.content and fetched.edited_at is not None
    assert fetched.reference is not None and str(fetched.reference.message_id) == harness.rows()[0]["message_id"]


# -- only the channel the message is in (issue 20, 8) -----------------------------------------------


async def test_a_reply_referencing_another_channel_brings_none_of_its_conversation(harness):
    [secret] = await harness.say(harness.alice, "the launch code is tangerine", mention_bot=True)
    await recorded(harness, secret)
    # In #chat, a message whose message_reference points into #general (a crafted or cross-channel reference).
    await harness.say(harness.bob, "what did she say?", channel="chat", reply_to=secret.id)

    assert harness.claude.requests[-1]["messages"] == [{"role": "user", "content": "what did she say?"}]
    first, second = harness.rows()
    assert second["reply_to_message_id"] is None and second["conversation_id"] != first["conversation_id"]


async def test_a_forwarded_bot_reply_brings_none_of_its_conversation(harness):
    # Forwarded within the same channel: only the reference's type (1, FORWARD) tells it from a reply.
    [secret] = await harness.say(harness.alice, "the launch code is tangerine", channel="chat")
    await recorded(harness, secret)
    before = len(harness.discord.sent)
    await harness.discord.user_forwards(harness.bob, secret.id, channel="chat", content="look at this")
    await harness.discord.wait_for_sent(before + 1)

    assert harness.claude.requests[-1]["messages"] == [{"role": "user", "content": "look at this"}]
    assert harness.rows()[-1]["reply_to_message_id"] is None


def test_the_store_follows_a_chain_only_within_the_channels_given(tmp_path):
    """Rows logged before this check (a reply that crossed channels) are not followed either."""
    with ConversationLog(tmp_path / "log.db") as store:
        store.submit(exchange(1, guild_id="g1", channel_id="general", conversation_id="k1")).result()
        store.set_reply_id("m1", "r1").result()
        store.submit(
            exchange(2, guild_id="g1", channel_id="thread", conversation_id="k1", reply_to_message_id="r1")
        ).result()
        store.set_reply_id("m2", "r2").result()
        assert store.reply_chain("g1", ("other",), "r1", None, Window(10, 10)) == []
        assert [r["user_message"] for r in store.reply_chain("g1", ("thread",), "r2", None, Window(10, 10))] == ["q2"]
        both = ("thread", "general")
        assert [r["user_message"] for r in store.reply_chain("g1", both, "r2", None, Window(10, 10))] == [
            "q1",
            "q2",
        ]


def test_the_channel_filter_leaves_each_step_on_its_own_index(tmp_path):
    """Without the unary + in chains.Where, SQLite took the channel index for the conversation step:
    a scan of the whole channel's earlier rows at every step."""
    with ConversationLog(tmp_path / "log.db"):
        pass
    where = chains.Where("g1", ("c1", "c2"))
    with sqlite3.connect(tmp_path / "log.db") as conn:

        def plan(condition: str) -> str:
            return " ".join(
                row[3]
                for row in conn.execute(
                    f"explain query plan select {chains.COLUMNS} from conversations where {where.sql} and {condition}",
                    {**where.params, "id": "x", "conversation": "k", "before": 5},
                )
            )

        assert "idx_conversations_reply_message_id" in plan("reply_message_id = :id")
        assert "idx_conversations_conversation_id" in plan("conversation_id = :conversation and id < :before")


def test_a_long_chain_keeps_its_start_for_ten_turns_then_moves_it_ten_at_once(tmp_path):
    """Before: the last 10 exchanges, so the start moved every turn and Claude's cached prefix with it."""
    starts, sizes = [], []
    with ConversationLog(tmp_path / "log.db") as store:
        for n in range(1, 42):
            store.submit(exchange(n, guild_id="g1", channel_id="thread", conversation_id="k")).result()
            rows = store.reply_chain("g1", ("thread",), None, "thread", Window(10, 20))
            starts.append(rows[0]["user_message"])
            sizes.append(len(rows))
    assert sizes[:20] == list(range(1, 21))  # all of it up to 20
    assert sizes[20:] == [*range(11, 20), *range(10, 20), *range(10, 12)]
    assert sorted(set(starts), key=starts.index) == ["q1", "q11", "q21", "q31"]
    assert starts.count("q11") == 9 and starts.count("q21") == 10


def test_the_chain_window_slides_by_one_when_told_to_grow_no_further():
    assert [chains.window(length, 10, 10) for length in (9, 10, 11, 30)] == [9, 10, 10, 10]
