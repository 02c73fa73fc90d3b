"""Every way Claude can fail gives the static fallback, with the reason only in the app log."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest

from bot.core.responder import FALLBACK_MODEL, FALLBACK_TEXT, Reply, Responder
from tests.support.processes import closed_port

QUESTION = [{"role": "user", "content": "hello"}]


async def ask(settings) -> Reply:
    responder = Responder.from_settings(settings)
    try:
        return await responder.reply(QUESTION)
    finally:
        await responder.close()


@pytest.mark.parametrize(
    "status, error_name",
    [
        (429, "RateLimitError"),
        (500, "InternalServerError"),
        (529, "OverloadedError"),
    ],
)
async def test_api_errors_fall_back(settings, claude, caplog, status, error_name):
    claude.failures = [status]
    with caplog.at_level(logging.WARNING):
        reply = await ask(settings)
    assert (reply.text, reply.model, reply.input_tokens, reply.output_tokens) == (FALLBACK_TEXT, FALLBACK_MODEL, 0, 0)
    assert error_name in caplog.text
    assert claude.hits == 1  # max_retries=0 in the test settings


async def test_wrong_key_falls_back(settings, claude, caplog):
    reply = await ask(replace(settings, anthropic_api_key="sk-ant-wrong"))
    assert reply.model == FALLBACK_MODEL
    assert "AuthenticationError" in caplog.text
    assert "sk-ant-wrong" not in caplog.text


async def test_no_key_falls_back_without_calling_the_api(settings, claude, caplog):
    reply = await ask(replace(settings, anthropic_api_key=None))
    assert reply.model == FALLBACK_MODEL
    assert "ANTHROPIC_API_KEY is not set" in caplog.text
    assert claude.hits == 0


async def test_timeout_falls_back_within_the_bound(settings, claude, caplog):
    claude.failures = ["hang"]
    started = time.monotonic()
    reply = await ask(replace(settings, api_timeout=0.5))
    assert reply.model == FALLBACK_MODEL
    assert time.monotonic() - started < 3
    assert "BOT_API_TIMEOUT=0.5s" in caplog.text


async def test_connection_refused_falls_back(settings, caplog):
    reply = await ask(replace(settings, anthropic_base_url=f"http://127.0.0.1:{closed_port()}"))
    assert reply.model == FALLBACK_MODEL
    assert "APIConnectionError" in caplog.text


async def test_retries_are_bounded_by_settings(settings, claude):
    claude.failures = [500, 500, 500, 500]
    reply = await ask(replace(settings, api_max_retries=1))
    assert reply.model == FALLBACK_MODEL
    assert claude.hits == 2


async def test_a_retry_that_succeeds_is_a_real_answer(settings, claude):
    claude.failures = [529]
    reply = await ask(replace(settings, api_max_retries=1))
    assert reply.text == "Echo #1: hello" and reply.model == "claude-haiku-4-5"


async def test_fallback_through_discord_is_logged_with_zero_tokens(harness, caplog):
    harness.claude.failures = [529]
    [reply] = await harness.say(harness.alice, "are you there?", mention_bot=True)

    assert reply.content == FALLBACK_TEXT
    assert "Overloaded" not in reply.content and "529" not in reply.content
    [row] = harness.rows()
    assert (row["model_used"], row["tokens_used"], row["input_tokens"], row["output_tokens"]) == (
        "static_fallback",
        0,
        0,
        0,
    )
    assert "OverloadedError" in caplog.text
    # A fallback turn is not fed back to Claude as context.
    await harness.say(harness.alice, "now?", mention_bot=True)
    assert harness.claude.requests[-1]["messages"] == [{"role": "user", "content": "now?"}]
