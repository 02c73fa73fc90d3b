"""Prompt caching: where the bot marks its requests (bot/core/prompt_cache.py), how the fake Claude bills
them (tests/support/fake_cache.py) against the documentation's worked example and rules, and the cache
counts reaching the log through the unmodified SDK."""

from __future__ import annotations

from dataclasses import replace

import anthropic
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import BaseModel, TypeAdapter

from bot.core.prompt_cache import mark_cache, minimum_tokens
from bot.core.service import Incoming, open_service
from tests.support.fake_cache import TTL_S
from tests.support.logs import log_rows

TTL = TTL_S["5m"]  # 300 s
QUESTION = [{"role": "user", "content": "tell me everything about the sea and the sky"}]  # 9 words
SDK_TYPES = {"message": Message, "event": RawMessageStreamEvent}


def check(kind: str, body: dict) -> BaseModel:
    """Strictly, as tests/test_fake_fidelity_claude.py does: no coercion, and no field the SDK's type lacks."""
    model = TypeAdapter(SDK_TYPES[kind]).validate_python(body, strict=True)
    usage = getattr(model, "usage", None) or getattr(getattr(model, "message", None), "usage", None)
    assert usage is None or not usage.__pydantic_extra__, usage
    return model


class Clock:
    """The fake cache's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(claude):
    claude.cache.clock = Clock()
    return claude.cache.clock


@pytest.fixture
async def client(claude):
    sdk = anthropic.AsyncAnthropic(api_key=claude.api_key, base_url=claude.url, max_retries=0)
    yield sdk
    await sdk.close()


def words(count: int, word: str = "word") -> str:
    return " ".join([word] * count)  # the fake counts a word as a token


def counts(message) -> tuple[int, int, int]:
    usage = message.usage
    return usage.cache_creation_input_tokens, usage.cache_read_input_tokens, usage.input_tokens


async def test_the_documentations_worked_example(client, clock):
    """platform.claude.com/docs/en/build-with-claude/prompt-caching: a system prompt of an instruction and the
    whole of Pride and Prejudice, the book marked with cache_control; the first call reports
    {"cache_creation_input_tokens":188086,"cache_read_input_tokens":0,"input_tokens":21,"output_tokens":393},
    the same call again {"cache_creation_input_tokens":0,"cache_read_input_tokens":188086,"input_tokens":21}.
    The fake counts words, so the texts have the example's token counts in words."""
    instruction = "You are an AI assistant tasked with analyzing literary works."
    book = words(188_086 - len(instruction.split()), "A")  # one letter a word: under the fake's 1 MB body limit
    request = {
        "model": "claude-opus-4-6",
        "max_tokens": 1024,
        "system": [
            {"type": "text", "text": instruction},
            {"type": "text", "text": book, "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [{"role": "user", "content": words(21, "themes")}],
    }
    first = await client.messages.create(**request)
    assert counts(first) == (188_086, 0, 21)
    assert first.usage.cache_creation is not None and first.usage.cache_creation.ephemeral_5m_input_tokens == 188_086
    clock.now += 60
    second = await client.messages.create(**request)
    assert counts(second) == (0, 188_086, 21)


@pytest.mark.parametrize("model, minimum", [("claude-haiku-4-5", 4096), ("claude-sonnet-4-5", 1024)])
async def test_a_prefix_under_the_models_minimum_is_not_cached(client, clock, model, minimum):
    def request(tokens: int) -> dict:
        system = [{"type": "text", "text": words(tokens), "cache_control": {"type": "ephemeral"}}]
        return {"model": model, "max_tokens": 50, "system": system, "messages": [{"role": "user", "content": "hi"}]}

    short = request(minimum - 1)
    assert counts(await client.messages.create(**short)) == (0, 0, minimum)
    assert counts(await client.messages.create(**short)) == (0, 0, minimum)  # nothing to read either
    enough = request(minimum)
    assert counts(await client.messages.create(**enough)) == (minimum, 0, 1)
    assert counts(await client.messages.create(**enough)) == (0, minimum, 1)


async def test_an_entry_lives_five_minutes_from_its_last_use(client, clock):
    body = {"model": "claude-sonnet-4-5", "max_tokens": 50, "system": words(2000)}
    request = mark_cache({**body, "messages": [{"role": "user", "content": "hello"}]}, "claude-sonnet-4-5")
    assert counts(await client.messages.create(**request)) == (2001, 0, 0)
    clock.now += TTL - 1
    assert counts(await client.messages.create(**request)) == (0, 2001, 0)  # a hit refreshes it...
    clock.now += TTL - 1
    assert counts(await client.messages.create(**request)) == (0, 2001, 0)  # ...so it outlives its first 5 minutes
    clock.now += TTL
    assert counts(await client.messages.create(**request)) == (2001, 0, 0)  # 5 minutes unused: gone, written again


async def test_prefixes_match_up_to_the_breakpoint(client, clock):
    """Automatic caching marks the last block; the next turn finds it 2 blocks back (within the 20 looked at),
    and the system prompt's own breakpoint serves a conversation whose earlier turns differ."""
    system = words(1500)

    def turn(*texts: str) -> dict:
        messages = [{"role": ("user", "assistant")[n % 2], "content": text} for n, text in enumerate(texts)]
        return mark_cache(
            {"model": "claude-sonnet-4-5", "max_tokens": 50, "system": system, "messages": messages},
            "claude-sonnet-4-5",
        )

    assert counts(await client.messages.create(**turn("first question"))) == (1502, 0, 0)
    # Turn 2 reads turn 1's whole prompt, and writes its new exchange.
    assert counts(await client.messages.create(**turn("first question", "an answer", "second one"))) == (4, 1502, 0)
    # Another conversation (or a memory window that slid): only the system prompt matches.
    assert counts(await client.messages.create(**turn("other question"))) == (2, 1500, 0)
    # A change before the breakpoint is a different prefix: the system prompt is read, the rest written.
    changed = turn("changed question", "an answer", "second one")
    assert counts(await client.messages.create(**changed)) == (6, 1500, 0)


async def test_more_than_four_breakpoints_are_refused_as_the_api_does(client, clock):
    marked = [{"type": "text", "text": f"part {n}", "cache_control": {"type": "ephemeral"}} for n in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
        await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=50, system=marked, messages=[{"role": "user", "content": "hi"}]
        )


def test_mark_cache_marks_the_system_prompt_only_when_it_could_be_cached():
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "system": "short",
        "messages": [{"role": "user", "content": "x"}],
    }
    short = mark_cache(body, "claude-haiku-4-5")
    assert short == {**body, "cache_control": {"type": "ephemeral"}}  # the messages and system untouched
    long = mark_cache({**body, "system": "y" * 4096}, "claude-haiku-4-5-20251001")
    assert long["system"] == [{"type": "text", "text": "y" * 4096, "cache_control": {"type": "ephemeral"}}]
    assert body["system"] == "short"  # pure: the caller's body is not changed
    assert minimum_tokens("claude-sonnet-4-5") == 1024 and minimum_tokens("claude-new-9") == 1024


async def test_the_cache_counts_reach_the_log_and_tokens_used_counts_them(settings, claude, clock):
    settings = replace(settings, model="claude-sonnet-4-5", system_prompt=words(1200, "rule"))
    async with open_service(settings) as service:
        first = Incoming(user_id="1", user_name="a", channel_id="c", text="first question", message_id="m1")
        await service.chat(first)
        await service.chat(replace(first, text="second question", message_id="m2"))
    rows = log_rows(settings)
    assert [(r["cache_creation_input_tokens"], r["cache_read_input_tokens"], r["input_tokens"]) for r in rows] == [
        (1202, 0, 0),  # the system prompt and the message written
        (6, 1202, 0),  # read back; the echo reply (4 words) and the new message written
    ]
    for row in rows:
        assert row["tokens_used"] == (
            row["input_tokens"]
            + row["cache_creation_input_tokens"]
            + row["cache_read_input_tokens"]
            + row["output_tokens"]
        )
    assert claude.requests[0]["cache_control"] == {"type": "ephemeral"}
    assert claude.requests[0]["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_a_file_sent_once_is_not_written_but_the_conversation_before_it_is():
    system = "s" * 5000
    file_turn = [{"type": "text", "text": "[file: notes.md]\n" + "x " * 100}, {"type": "text", "text": "summarise"}]
    context = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "system": system,
        "messages": [*context, {"role": "user", "content": file_turn}],
    }
    marked = mark_cache(body, "claude-haiku-4-5")
    assert "cache_control" not in marked  # no automatic breakpoint on the file
    assert marked["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
    }
    assert marked["messages"][2] == body["messages"][2] and marked["messages"][0] == context[0]
    alone = mark_cache({**body, "messages": [{"role": "user", "content": file_turn}]}, "claude-haiku-4-5")
    assert "cache_control" not in alone and alone["messages"] == [{"role": "user", "content": file_turn}]
    assert alone["system"][0]["cache_control"] == {"type": "ephemeral"}  # the system prompt still is


async def test_every_cached_usage_the_fake_sends_validates_against_the_sdks_types(client, claude, clock):
    """The strict check of tests/test_fake_fidelity_claude.py, on answers that write and read the cache,
    whole and streamed (message_start and message_delta carry the counts)."""
    request = mark_cache(
        {"model": "claude-sonnet-4-5", "max_tokens": 50, "system": words(1500), "messages": QUESTION},
        "claude-sonnet-4-5",
    )
    await client.messages.create(**request)
    async with client.messages.stream(**request) as stream:
        final = await stream.get_final_message()
    assert counts(final) == (0, 1509, 0)  # 1,500 + the 9-word question; the SDK put the streamed counts together
    written = [check(kind, body) for kind, body in claude.emitted if body.get("type") != "ping"]  # no SDK type
    usages = [model.usage for model in written if getattr(model, "usage", None) is not None]
    usages += [model.message.usage for model in written if getattr(model, "type", "") == "message_start"]
    assert {(u.cache_creation_input_tokens, u.cache_read_input_tokens) for u in usages} == {(1509, 0), (0, 1509)}


async def test_a_thread_reads_its_whole_prefix_back_between_the_memorys_trims(settings, claude, clock):
    """The default memory (10 exchanges, growing to 20): from the 12th turn on, each turn still reads the
    whole previous request from the cache (the memory's window did not move), where a window sliding one
    exchange a turn read only the system prompt; the 22nd turn, after the trim, reads only the system prompt."""
    settings = replace(settings, model="claude-sonnet-4-5", system_prompt=words(1200, "rule"))
    async with open_service(settings) as service:
        for n in range(23):
            await service.chat(
                Incoming(user_id="1", user_name="a", channel_id="c", text=f"question {n}", message_id=f"m{n}")
            )
    rows = log_rows(settings)
    prompts = [r["input_tokens"] + r["cache_creation_input_tokens"] + r["cache_read_input_tokens"] for r in rows]
    reads = [r["cache_read_input_tokens"] for r in rows]
    assert reads[1:21] == prompts[:20]  # each of turns 2 to 21 reads all the turn before it sent
    assert reads[21] == 1200  # the trim: the window starts later, only the system prompt matches
    assert reads[22] == prompts[21]  # and the next turn reads all of it again
    for before, after in zip(claude.requests[:20], claude.requests[1:21], strict=True):
        previous = [unmarked(message) for message in before["messages"]]
        assert [unmarked(message) for message in after["messages"][: len(previous)]] == previous


def unmarked(message: dict) -> dict:
    """A message as the memory made it, without mark_cache's breakpoint (which moves to the newest turn)."""
    content = message["content"]
    if isinstance(content, list) and len(content) == 1 and content[0].get("cache_control"):
        content = content[0]["text"]
    return {"role": message["role"], "content": content}
