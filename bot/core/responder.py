"""Answers from Claude through the official SDK, or a static fallback when Claude cannot answer.

What a finished, cut-off or missing answer becomes (the Reply and its texts) is in replies.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import anthropic
import httpx2
from anthropic.lib.streaming import AsyncMessageStream
from anthropic.types import Message, MessageParam

from bot.config.settings import Settings
from bot.core.replies import CUT_OFF_NOTE as CUT_OFF_NOTE  # re-exported: the texts' old home
from bot.core.replies import FALLBACK_TEXT as FALLBACK_TEXT
from bot.core.replies import LENGTH_NOTE as LENGTH_NOTE
from bot.core.replies import MAX_TOKENS as MAX_TOKENS
from bot.core.replies import REFUSAL as REFUSAL
from bot.core.replies import REFUSAL_TEXT as REFUSAL_TEXT
from bot.core.replies import Reply as Reply
from bot.core.replies import cut_off_reply, fallback_reply, finished_reply
from bot.core.request import RequestBody, build_request
from bot.core.retries import retry_wait
from bot.store.exchange import FALLBACK_MODEL as FALLBACK_MODEL

log = logging.getLogger(__name__)

TextSink = Callable[[str], None]  # receives the reply's text so far, each time it grows


class Attempt:
    """One request to Claude: the text streamed so far, and the stream, for what a failure leaves."""

    def __init__(self, budget: asyncio.Timeout) -> None:
        self.text = ""
        self.stream: AsyncMessageStream[None] | None = None  # set when the request is answered
        self.budget = budget  # lifted at the first text: from then on the user reads, not waits

    async def run(self, client: anthropic.AsyncAnthropic, body: RequestBody, on_text: TextSink | None) -> Message:
        """Stream the answer, keeping its text so far; the budget is lifted at the first text."""
        async with client.messages.stream(**body) as stream:
            self.stream = stream
            async for delta in stream.text_stream:
                if not self.text:
                    self.budget.reschedule(None)
                self.text += delta
                if on_text is not None and self.text.strip():
                    on_text(self.text)
                # Events that arrived together are parsed one per turn of the loop, so many
                # streams at once never hold it for long (bench/streaming.py measures the lag).
                await asyncio.sleep(0)
            return await stream.get_final_message()


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
                    message = await attempt.run(client, body, on_text)
                return finished_reply(message, _ms_since(started), attempt.stream, self.max_tokens)
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
                return cut_off_reply(attempt.text, attempt.stream, _ms_since(started))
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

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
