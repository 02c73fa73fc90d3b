"""The fake Claude cannot drift from the SDK: every body and event it emits validates, strictly, against
the installed anthropic package's own types, with no field those types do not know.

The SDK's models accept unknown keys (extra="allow"), so `no_extras` walks the validated model
and refuses any: a misspelt field in the fake fails here instead of passing silently.
"""

from __future__ import annotations

import json

import anthropic
import pytest
from anthropic.types import ErrorResponse, Message, ModelInfo, RawMessageStreamEvent
from pydantic import BaseModel, TypeAdapter

from tests.support.fake_anthropic import FakeAnthropic

QUESTION = [{"role": "user", "content": "tell me everything about the sea and the sky"}]
TYPES = {"message": Message, "event": RawMessageStreamEvent, "error": ErrorResponse, "model": ModelInfo}


def no_extras(model: BaseModel, where: str = "") -> None:
    """Fail on any key the SDK's type does not declare, at any depth."""
    extra = model.__pydantic_extra__ or {}
    assert not extra, f"{type(model).__name__}{where} has fields the SDK does not know: {sorted(extra)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for index, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, BaseModel):
                no_extras(item, f"{where}.{name}[{index}]")


def check(kind: str, body: dict) -> BaseModel:
    """Strictly, as Python objects (no coercion of any kind), except a datetime, which JSON can only
    carry as text: ModelInfo's `created_at` is checked strictly as the JSON the SDK parses."""
    adapter = TypeAdapter(TYPES[kind])
    if kind == "model":
        model = adapter.validate_json(json.dumps(body), strict=True)
    else:
        model = adapter.validate_python(body, strict=True)
    no_extras(model)
    return model


async def exercise(claude: FakeAnthropic) -> None:
    """Every kind of answer the fake gives, asked through the real SDK."""
    client = anthropic.AsyncAnthropic(api_key=claude.api_key, base_url=claude.url, max_retries=0)
    try:
        await client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=QUESTION)
        for max_tokens in (100, 3):  # whole, then cut at max_tokens
            async with client.messages.stream(
                model="claude-haiku-4-5", max_tokens=max_tokens, messages=QUESTION
            ) as stream:
                await stream.get_final_message()
        claude.refuse_after_words = 2
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=QUESTION) as stream:
            await stream.get_final_message()
        claude.refuse_after_words, claude.words_per_delta, claude.fail_after_deltas = None, 1, 2
        with pytest.raises(anthropic.APIStatusError):
            async with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=QUESTION) as stream:
                await stream.get_final_message()
        await client.models.retrieve("claude-haiku-4-5")
        for status in (400, 429, 500, 529):
            claude.failures = [status]
            with pytest.raises(anthropic.APIStatusError):
                await client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=QUESTION)
        with pytest.raises(anthropic.NotFoundError):
            await client.models.retrieve("gpt-4")
        with pytest.raises(anthropic.AuthenticationError):
            await client.with_options(api_key="sk-ant-wrong").models.retrieve("claude-haiku-4-5")
    finally:
        await client.close()


async def test_everything_the_fake_emits_validates_against_the_sdk_types(claude):
    await exercise(claude)
    kinds = [kind for kind, _ in claude.emitted]
    assert {"message", "event", "error", "model"} <= set(kinds)
    for kind, body in claude.emitted:
        if body.get("type") == "ping":
            assert body == {"type": "ping"}  # documented, and skipped by the SDK, which has no type for it
            continue
        # The mid-stream `error` event has the envelope of an error response, not a stream event's.
        check("error" if body.get("type") == "error" else kind, body)


async def test_usage_carries_the_cache_fields(claude):
    await exercise(claude)
    [message] = [check("message", body) for kind, body in claude.emitted if kind == "message"]
    assert message.usage.cache_creation_input_tokens == 0 and message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation is not None


async def test_output_never_exceeds_max_tokens_and_says_so(claude):
    client = anthropic.AsyncAnthropic(api_key=claude.api_key, base_url=claude.url, max_retries=0)
    try:
        for max_tokens in (1, 3, 1000):
            async with client.messages.stream(
                model="claude-haiku-4-5", max_tokens=max_tokens, messages=QUESTION
            ) as stream:
                message = await stream.get_final_message()
            assert message.usage.output_tokens <= max_tokens
            assert message.stop_reason == ("end_turn" if max_tokens == 1000 else "max_tokens")
            assert len(message.content[0].text.split()) == message.usage.output_tokens
    finally:
        await client.close()


async def test_errors_carry_the_headers_the_sdk_reads(claude):
    client = anthropic.AsyncAnthropic(api_key=claude.api_key, base_url=claude.url, max_retries=0)
    claude.retry_after = 9
    seen = {}
    try:
        for status in (400, 429, 529):
            claude.failures = [status]
            with pytest.raises(anthropic.APIStatusError) as caught:
                await client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=QUESTION)
            headers = caught.value.response.headers
            seen[status] = (headers.get("x-should-retry"), headers.get("retry-after"))
            assert caught.value.request_id == headers["request-id"] == caught.value.body["request_id"]
    finally:
        await client.close()
    assert seen == {400: ("false", None), 429: ("true", "9"), 529: ("true", "9")}


async def test_an_unknown_model_is_refused_as_the_api_refuses_it(claude):
    client = anthropic.AsyncAnthropic(api_key=claude.api_key, base_url=claude.url, max_retries=0)
    claude.known_models = {"claude-haiku-4-5"}
    try:
        with pytest.raises(anthropic.NotFoundError) as caught:
            await client.messages.create(model="claude-3-5-haiku-20241022", max_tokens=10, messages=QUESTION)
    finally:
        await client.close()
    assert caught.value.body["error"] == {"type": "not_found_error", "message": "model: claude-3-5-haiku-20241022"}
    check("error", caught.value.body)
