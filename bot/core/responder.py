"""Answers from Claude through the official SDK, or a static fallback when Claude cannot answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import anthropic
import httpx2
from anthropic.lib.streaming import AsyncMessageStream
from anthropic.types import Message, MessageParam, Usage

from bot.config.settings import Settings
from bot.core.request import RequestBody, build_request
from bot.core.retries import retry_wait
from bot.store.exchange import FALLBACK_MODEL

log = logging.getLogger(__name__)

FALLBACK_TEXT = (
    "Sorry, I can't reach my language model right now, so I can't give you a real answer. "
    "Your message was received; please try again in a little while."
)
CUT_OFF_NOTE = "\n\n*(My answer was cut off: the language model stopped responding. Please ask again.)*"
LENGTH_NOTE = "\n\n*(Cut at the length limit: this answer reached the {limit}-token maximum and is incomplete.)*"
REFUSAL_TEXT = (
    "I can't help with that one: the language model declined to answer this message. "
    "You're welcome to ask something else."
)
MAX_TOKENS, REFUSAL = "max_tokens", "refusal"  # Claude's stop_reason values the bot acts on

TextSink = Callable[[str], None]  # receives the reply's text so far, each time it grows


@dataclass(frozen=True)
class Reply:
    text: str
    model: str | None  # None when no model answered (the bot's own hint for an empty message)
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    logged: bool = False  # the exchange is in the permanent log (so a rating of the reply can find it)
    cut_off: bool = False  # the stream failed midway: `text` is what arrived, ending with CUT_OFF_NOTE
    stop_reason: str | None = None  # Claude's reason for stopping; None when Claude gave none (fallback, cut off)
    cache_creation_input_tokens: int = 0  # input written to the prompt cache (billed 1.25x), beside input_tokens
    cache_read_input_tokens: int = 0  # input read from the prompt cache (billed 0.1x), beside input_tokens
    sent: bool = True  # a request went to Claude (False: no API key, the fallback answered at once)
    message_id: str | None = None  # Anthropic's id of the message (msg_...); None when none came back
    request_id: str | None = None  # the `request-id` of the request that answered; None when none did

    def with_ids(self, message_id: str, request_id: str | None) -> Reply:
        return replace(self, message_id=message_id, request_id=request_id)


def fallback_reply(latency_ms: int = 0, *, sent: bool = True) -> Reply:
    return Reply(FALLBACK_TEXT, FALLBACK_MODEL, latency_ms=latency_ms, sent=sent)


class Attempt:
    """One request to Claude: the text streamed so far, and the stream, for what a failure leaves."""

    def __init__(self, budget: asyncio.Timeout) -> None:
        self.text = ""
        self.stream: AsyncMessageStream[None] | None = None  # set when the request is answered
        self.budget = budget  # lifted at the first text: from then on the user reads, not waits


class Responder:
    """Turns a conversation into a reply. `client` is None when no API key is configured.

    A user waits at most `budget_s` (BOT_API_TIMEOUT) for the first text of an answer, in all: every
    attempt and every wait between them. The SDK's own retries are off (they wait whatever
    `retry-after` says: 9.2 s for `retry-after: 9` with a 20 s timeout); ours wait only when the wait
    fits what is left of the budget, else the fallback comes at once. Once text streams the user is
    reading, and a stream is only cut when Claude pauses longer than the timeout (the SDK's read timeout).
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic | None,
        *,
        model: str,
        system_prompt: str,
        max_tokens: int,
        budget_s: float,
        max_retries: int,
    ) -> None:
        self.client = client
        self.model = model
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens
        self.budget_s = budget_s
        self.max_retries = max_retries

    @classmethod
    def from_settings(cls, settings: Settings) -> Responder:
        client = None
        if settings.anthropic_api_key:
            client = anthropic.AsyncAnthropic(
                api_key=settings.anthropic_api_key,
                base_url=settings.anthropic_base_url,
                timeout=settings.api_timeout,
                max_retries=0,  # Responder.reply retries, within the budget
            )
        return cls(
            client,
            model=settings.model,
            system_prompt=settings.system_prompt,
            max_tokens=settings.max_tokens,
            budget_s=settings.api_timeout,
            max_retries=settings.api_max_retries,
        )

    async def check_key(self) -> None:
        """One cheap authenticated call at start (the configured model's entry in the models list):
        a rejected key or an unknown model is one ERROR line, and the bot runs on the fallback."""
        if self.client is None:
            return
        try:
            await self.client.with_options(timeout=self.budget_s).models.retrieve(self.model)
        except anthropic.AuthenticationError:
            log.error("ANTHROPIC_API_KEY was rejected by the Anthropic API (401); answering with the static fallback")
        except anthropic.NotFoundError:
            log.error(
                "BOT_MODEL %r is not a model the Anthropic API knows (404); answering with the static fallback",
                self.model,
            )
        except (anthropic.APIError, httpx2.TransportError) as err:
            log.warning("could not check ANTHROPIC_API_KEY at start: %s: %s", type(err).__name__, err)

    async def reply(self, messages: list[MessageParam], on_text: TextSink | None = None) -> Reply:
        """`messages` alternate user/assistant and end with the new user message.

        The reply is streamed: `on_text` (if given) sees the text so far at every delta.
        """
        client = self.client
        if client is None:
            log.warning("static fallback: ANTHROPIC_API_KEY is not set")
            return fallback_reply(sent=False)
        body = self.request(messages)
        loop = asyncio.get_running_loop()
        started, deadline = time.perf_counter(), loop.time() + self.budget_s
        for retry in range(self.max_retries + 1):
            try:
                async with asyncio.timeout_at(deadline) as budget:
                    attempt = Attempt(budget)
                    message = await self._stream(client, attempt, body, on_text)
                return self._finished(message, _ms_since(started), attempt.stream)
            except TimeoutError:
                failure = f"no answer within BOT_API_TIMEOUT={self.budget_s:g}s"
                wait = None
            except (anthropic.APIError, httpx2.TransportError) as err:
                # Every SDK failure (401, 429, 5xx, 529, timeout, refused, an `error` event or a dropped
                # connection mid-stream) ends here; the reason stays in our log, not in the chat.
                failure = f"{type(err).__name__}: {err}"
                wait = retry_wait(err, retry) if retry < self.max_retries else None
            if attempt.text.strip() and attempt.stream is not None:  # text comes only through a stream
                log.warning("reply cut off after %d characters: %s", len(attempt.text), failure)
                return _cut_off(attempt.text, attempt.stream, _ms_since(started))
            left = deadline - loop.time()
            if wait is None or wait >= left:
                if wait is not None:
                    failure += f" (retry after {wait:g}s does not fit the {max(left, 0):.1f}s left of BOT_API_TIMEOUT)"
                log.warning("static fallback: Claude request failed: %s", failure)
                return fallback_reply(_ms_since(started))
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover

    def request(self, messages: list[MessageParam]) -> RequestBody:
        return build_request(self.system_prompt, messages, model=self.model, max_tokens=self.max_tokens)

    async def _stream(
        self, client: anthropic.AsyncAnthropic, attempt: Attempt, body: RequestBody, on_text: TextSink | None
    ) -> Message:
        async with client.messages.stream(**body) as stream:
            attempt.stream = stream
            async for delta in stream.text_stream:
                if not attempt.text:
                    attempt.budget.reschedule(None)
                attempt.text += delta
                if on_text is not None and attempt.text.strip():
                    on_text(attempt.text)
                # Events that arrived together are parsed one per turn of the loop, so many
                # streams at once never hold it for long (bench/streaming.py measures the lag).
                await asyncio.sleep(0)
            return await stream.get_final_message()

    def _finished(self, message: Message, latency_ms: int, stream: AsyncMessageStream[None] | None) -> Reply:
        """A complete answer, shown as Claude ended it: whole, cut at the length limit, or refused."""
        text = "".join(block.text for block in message.content if block.type == "text").strip()
        usage = message.usage
        request_id = stream.request_id if stream is not None else None
        if message.stop_reason == REFUSAL:
            log.warning("Claude declined to answer (stop_reason=refusal)")
            text = REFUSAL_TEXT  # a partial answer stopped by a refusal is not shown
        elif not text:
            log.warning("static fallback: Claude returned no text (stop_reason=%s)", message.stop_reason)
            return fallback_reply(latency_ms).with_ids(message.id, request_id)
        elif message.stop_reason == MAX_TOKENS:
            text += LENGTH_NOTE.format(limit=self.max_tokens)
        return Reply(
            text,
            message.model,
            usage.input_tokens,
            usage.output_tokens,
            latency_ms,
            stop_reason=message.stop_reason,
            cache_creation_input_tokens=cache_written(usage),
            cache_read_input_tokens=cache_read(usage),
        ).with_ids(message.id, request_id)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _cut_off(text: str, stream: AsyncMessageStream[None], latency_ms: int) -> Reply:
    """What the user saw of a stream that failed midway, with the tokens the API had reported by then."""
    snapshot = stream.current_message_snapshot  # text arrived, so message_start (model, input tokens) had too
    usage = snapshot.usage
    return Reply(
        text.strip() + CUT_OFF_NOTE,
        snapshot.model,
        usage.input_tokens,
        usage.output_tokens,
        latency_ms,
        cut_off=True,
        cache_creation_input_tokens=cache_written(usage),
        cache_read_input_tokens=cache_read(usage),
    ).with_ids(snapshot.id, stream.request_id)


# The SDK types the cache counts optional: an absent count is nothing cached.
def cache_written(usage: Usage) -> int:
    return usage.cache_creation_input_tokens or 0


def cache_read(usage: Usage) -> int:
    return usage.cache_read_input_tokens or 0
