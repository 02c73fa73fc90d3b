"""Claude's contract as the bot meets it: stop_reason kept and shown, the time budget, the key checked at start.

All through the unmodified SDK against tests/support/fake_anthropic.py, which keeps the API's contract
(tests/test_fake_fidelity_claude.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from bot.core.responder import FALLBACK_MODEL, LENGTH_NOTE, REFUSAL_TEXT, Reply, Responder
from bot.core.service import Incoming, open_service
from bot.store import ConversationLog
from tests.support.logs import exchange, log_rows_at
from tests.support.processes import start_bot

QUESTION = [{"role": "user", "content": "hello there"}]


async def ask(settings) -> tuple[Reply, float]:
    responder = Responder.from_settings(settings)
    started = time.monotonic()
    try:
        return await responder.reply(QUESTION), time.monotonic() - started
    finally:
        await responder.close()


async def test_a_retry_after_longer_than_the_budget_gives_the_fallback_at_once(settings, claude, caplog):
    # Before: the SDK waited the 9 s the header asked, then answered (9.2 s with the defaults).
    claude.failures, claude.retry_after = [429], 9
    with caplog.at_level(logging.WARNING):
        reply, waited = await ask(replace(settings, api_timeout=2.0, api_max_retries=1))
    assert reply.model == FALLBACK_MODEL and waited < 0.5
    assert claude.hits == 1
    assert "RateLimitError" in caplog.text and "retry after 9s does not fit" in caplog.text


async def test_a_retry_after_that_fits_is_waited_then_answered(settings, claude):
    claude.failures, claude.retry_after = [529], 0.3
    reply, waited = await ask(replace(settings, api_timeout=2.0, api_max_retries=1))
    assert reply.text == "Echo #1: hello there" and reply.stop_reason == "end_turn"
    assert claude.hits == 2 and 0.3 <= waited < 2.0


async def test_every_attempt_and_wait_together_stay_within_the_budget(settings, claude):
    # Before: each of the 3 attempts had its own 0.5 s, plus the SDK's backoff between them (~2.3 s).
    claude.failures = ["hang", "hang", "hang"]
    reply, waited = await ask(replace(settings, api_timeout=0.5, api_max_retries=2))
    assert reply.model == FALLBACK_MODEL and waited < 0.9


async def test_backoff_that_does_not_fit_is_not_waited(settings, claude):
    # 500s carry no retry-after: backoff 0.5 s fits the 1 s budget once, the next 1 s does not.
    claude.failures = [500, 500, 500, 500]
    reply, waited = await ask(replace(settings, api_timeout=1.0, api_max_retries=3))
    assert reply.model == FALLBACK_MODEL and claude.hits == 2 and waited < 1.0


async def test_a_reply_cut_at_max_tokens_says_so_in_discord_and_in_the_row(harness):
    harness.service.responder.max_tokens = 3
    [reply] = await harness.say(harness.alice, "one two three four five six", mention_bot=True)
    note = LENGTH_NOTE.format(limit=3)
    assert reply.content == "Echo #1: one" + note
    [row] = harness.rows()
    assert (row["stop_reason"], row["output_tokens"], row["bot_response"]) == ("max_tokens", 3, reply.content)


async def test_a_refusal_gets_a_clear_message_and_the_row_says_refusal(harness):
    harness.claude.refuse_after_words = 2
    [reply] = await harness.say(harness.alice, "something it declines", mention_bot=True)
    assert reply.content == REFUSAL_TEXT
    [row] = harness.rows()
    assert (row["stop_reason"], row["bot_response"]) == ("refusal", REFUSAL_TEXT)


async def test_a_whole_reply_records_end_turn_and_the_fallback_null(harness):
    await harness.say(harness.alice, "first", mention_bot=True)
    harness.claude.failures = [529]
    await harness.say(harness.alice, "second", mention_bot=True)
    assert [(r["user_message"], r["model_used"], r["stop_reason"]) for r in harness.rows()] == [
        ("first", "claude-haiku-4-5", "end_turn"),
        ("second", FALLBACK_MODEL, None),
    ]


def test_a_spooled_row_keeps_its_stop_reason(tmp_path):
    path = tmp_path / "log.db"
    store = ConversationLog(path)
    store.spool.append([exchange(1, stop_reason="max_tokens").row()])
    assert json.loads(store.spool.path.read_text())["stop_reason"] == "max_tokens"
    with store:  # replayed at start
        pass
    assert [r["stop_reason"] for r in log_rows_at(path)] == ["max_tokens"]


@pytest.mark.slow
async def test_a_rejected_key_is_one_error_line_at_start_and_the_bot_answers_with_the_fallback(
    tmp_path, discord_server, claude, members
):
    rejected = SimpleNamespace(api_key="sk-ant-revoked", url=claude.url)  # the same fake, another key
    process = await start_bot(tmp_path, discord_server, rejected)
    await discord_server.user_says(members[0], "are you there?", mention_bot=True)
    [sent] = await discord_server.wait_for_sent(1)
    process.terminate()
    _, err = await asyncio.wait_for(process.communicate(), 30)
    errors = [line for line in err.decode().splitlines() if "ERROR" in line]
    assert claude.model_checks == 1
    assert len(errors) == 1 and "ANTHROPIC_API_KEY was rejected" in errors[0], err.decode()
    assert "Traceback" not in err.decode() and "sk-ant-revoked" not in err.decode()
    assert "can't reach my language model" in sent.content


async def test_an_unknown_model_is_one_error_line_at_start(settings, claude, caplog):
    responder = Responder.from_settings(replace(settings, model="claude-no-such-model"))
    claude.known_models = {"claude-haiku-4-5"}
    try:
        with caplog.at_level(logging.WARNING):
            await responder.check_key()
    finally:
        await responder.close()
    [record] = caplog.records
    assert record.levelname == "ERROR" and "BOT_MODEL 'claude-no-such-model'" in record.getMessage()


async def test_shutdown_drains_an_exchange_within_the_budget_whatever_the_retries(settings, claude):
    # Before: every retry had its own timeout (3 x 0.5 s plus backoff), and the drain waited up to 7 s for it.
    claude.failures = ["hang"] * 4
    settings = replace(settings, api_timeout=0.5, api_max_retries=3)
    async with open_service(settings) as service:
        asking = asyncio.create_task(
            service.chat(Incoming(user_id="u1", user_name="alice", channel_id="c1", text="in flight", message_id="m1"))
        )
        while claude.hits < 1:
            await asyncio.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 0.9  # the budget (0.5 s) and the log's commit
    assert (await asking).model == FALLBACK_MODEL
    assert [(r["user_message"], r["stop_reason"]) for r in log_rows_at(settings.log_db)] == [("in flight", None)]
