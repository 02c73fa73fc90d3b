"""Streamed replies through the unmodified SDK and discord.py: paced edits, long replies, a stream
that fails midway, and Discord's 429s, with the log written once, before the last edit."""

from __future__ import annotations

import itertools
import time

from bot.core.responder import CUT_OFF_NOTE, FALLBACK_TEXT
from bot.discord_front.live_reply import EDIT_INTERVAL_S, WRITING_MARK
from tests.support.fake_ratelimit import MESSAGES_PER_WINDOW, Window
from tests.support.logs import log_rows

WORDS = 60
PACE_S = 0.05  # 20 words a second: the 60-word reply streams for about 3 s


def long_answer(words: int = WORDS) -> str:
    return " ".join(f"word{i}" for i in range(words))


def rows_at_final_edit(harness) -> list:
    """Probe: the log's rows at the moment Discord receives the edit that completes a reply."""
    seen = []

    def probe(message):
        if not message.content.endswith(WRITING_MARK):
            seen.append(log_rows(harness.settings))

    harness.discord.on_edit = probe
    return seen


async def test_a_reply_appears_as_claude_writes_it_edited_about_once_a_second(harness):
    answer = long_answer()
    harness.claude.reply_text = lambda body: answer
    harness.claude.words_per_delta, harness.claude.stream_delay = 1, PACE_S
    seen = rows_at_final_edit(harness)

    [reply] = await harness.say(harness.alice, "tell me", mention_bot=True)

    times = [at for at, _ in reply.versions]
    shown = [content for _, content in reply.versions]
    assert shown[-1] == answer  # ends with the whole text, without the writing mark
    assert len(shown) >= 3 and all(text.endswith(WRITING_MARK) for text in shown[:-1])
    assert all(answer.startswith(text.removesuffix(WRITING_MARK)) for text in shown)
    # Interim edits are at least an interval apart (the final one follows the commit at once).
    gaps = [later - earlier for earlier, later in itertools.pairwise(times[:-1])]
    assert all(gap >= EDIT_INTERVAL_S * 0.9 for gap in gaps), gaps
    # The first text was visible within one interval of the API's first token.
    assert times[0] - harness.claude.first_delta_at[-1] <= EDIT_INTERVAL_S
    # The row was committed once, complete, before the edit that completed the reply.
    [[row]] = seen
    assert row["bot_response"] == answer and row["output_tokens"] == WORDS
    assert [r["bot_response"] for r in harness.rows()] == [answer]


async def test_a_streamed_reply_past_2000_characters_continues_in_further_messages(harness):
    answer = long_answer(500)  # about 3,900 characters
    harness.claude.reply_text = lambda body: answer
    harness.claude.words_per_delta, harness.claude.stream_delay = 25, PACE_S
    first, second = await harness.say(harness.alice, "a lot", mention_bot=True, replies=2)

    assert len(first.content) <= 2000 and len(second.content) <= 2000
    assert f"{first.content} {second.content}" == answer
    assert [r["bot_response"] for r in harness.rows()] == [answer]


async def test_a_stream_that_fails_midway_ends_with_a_note_and_logs_what_the_user_saw(harness):
    answer = long_answer(30)
    harness.claude.reply_text = lambda body: answer
    harness.claude.words_per_delta, harness.claude.fail_after_deltas = 1, 10
    [reply] = await harness.say(harness.alice, "go on", mention_bot=True)

    partial = " ".join(answer.split()[:10])
    assert reply.content == partial + CUT_OFF_NOTE
    [row] = harness.rows()
    assert row["bot_response"] == reply.content
    assert row["model_used"] == "claude-haiku-4-5"
    assert row["input_tokens"] > 0 and row["output_tokens"] == 1  # what message_start had reported


async def test_a_stream_that_fails_before_any_text_gives_the_static_fallback(harness):
    harness.claude.words_per_delta, harness.claude.fail_after_deltas = 1, 0
    [reply] = await harness.say(harness.alice, "anyone?", mention_bot=True)

    assert reply.content == FALLBACK_TEXT
    [row] = harness.rows()
    assert (row["model_used"], row["tokens_used"]) == ("static_fallback", 0)


async def test_discord_429s_are_waited_out_and_the_user_never_sees_them(harness):
    # Another process of the bot (or a shard) has spent this channel's window: the first send is
    # refused with 429 and retry_after, which discord.py sleeps out before sending again.
    channel = harness.discord.channels["general"]
    harness.discord.limits.windows[channel] = Window(reset_at=time.time() + 1.0, used=MESSAGES_PER_WINDOW)
    harness.claude.words_per_delta, harness.claude.stream_delay = 1, PACE_S
    [reply] = await harness.say(harness.alice, "patience", mention_bot=True)

    assert harness.discord.limits.refused >= 1
    assert reply.content == "Echo #1: patience"
    assert [r["bot_response"] for r in harness.rows()] == ["Echo #1: patience"]


async def test_a_burst_in_one_channel_stays_within_discords_limit_and_completes(harness):
    users = [harness.discord.add_member(f"streamer{i}") for i in range(4)]
    harness.claude.words_per_delta, harness.claude.stream_delay = 1, PACE_S
    for user in users:
        await harness.discord.user_says(user, f"hi from {user.name}", mention_bot=True)
    sent = await harness.discord.wait_for_sent(len(users), timeout=60)

    assert sorted(m.content for m in sent) == sorted(f"Echo #1: hi from {u.name}" for u in users)
    assert sorted(r["user_message"] for r in harness.rows()) == sorted(f"hi from {u.name}" for u in users)
    # Never more than the limit in any window: discord.py paced itself by the headers.
    times = sorted(at for m in sent for at, _ in m.versions)
    window = harness.discord.limits.per
    assert max(sum(1 for t in times if start <= t < start + window) for start in times) <= MESSAGES_PER_WINDOW
