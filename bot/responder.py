"""Answers from Claude through the official SDK, or a static fallback when Claude cannot answer."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable

import anthropic
import httpx2

from .store.exchange import FALLBACK_MODEL

log = logging.getLogger(__name__)

FALLBACK_TEXT = (
    "Sorry, I can't reach my language model right now, so I can't give you a real answer. "
    "Your message was received; please try again in a little while."
)
CUT_OFF_NOTE = "\n\n*(My answer was cut off: the language model stopped responding. Please ask again.)*"

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


def fallback_reply(latency_ms: int = 0) -> Reply:
    return Reply(FALLBACK_TEXT, FALLBACK_MODEL, latency_ms=latency_ms)


class Responder:
    """Turns a conversation into a reply. `client` is None when no API key is configured."""

    def __init__(self, client: anthropic.AsyncAnthropic | None, *, model: str, system_prompt: str, max_tokens: int):
        self.client = client
        self.model = model
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens

    @classmethod
    def from_settings(cls, settings) -> "Responder":
        client = None
        if settings.anthropic_api_key:
            client = anthropic.AsyncAnthropic(
                api_key=settings.anthropic_api_key,
                base_url=settings.anthropic_base_url,
                timeout=settings.api_timeout,
                max_retries=settings.api_max_retries,
            )
        return cls(client, model=settings.model, system_prompt=settings.system_prompt, max_tokens=settings.max_tokens)

    async def reply(self, messages: list[dict], on_text: TextSink | None = None) -> Reply:
        """`messages` alternate user/assistant and end with the new user message.

        The reply is streamed: `on_text` (if given) sees the text so far at every delta.
        """
        if self.client is None:
            log.warning("static fallback: ANTHROPIC_API_KEY is not set")
            return fallback_reply()
        started = time.perf_counter()
        text = ""
        try:
            async with self.client.messages.stream(
                model=self.model, max_tokens=self.max_tokens, system=self.system_prompt, messages=messages,
            ) as stream:
                async for delta in stream.text_stream:
                    text += delta
                    if on_text is not None and text.strip():
                        on_text(text)
                    # Events that arrived together are parsed one per turn of the loop, so many
                    # streams at once never hold it for long (bench/streaming.py measures the lag).
                    await asyncio.sleep(0)
                message = await stream.get_final_message()
        except (anthropic.APIError, httpx2.TransportError) as err:
            # Every SDK failure (401, 429, 5xx, 529, timeout, refused, an `error` event or a dropped
            # connection mid-stream) ends here; the reason stays in our log, not in the chat.
            if not text.strip():
                log.warning("static fallback: Claude request failed: %s: %s", type(err).__name__, err)
                return fallback_reply(_ms_since(started))
            log.warning("reply cut off after %d characters: %s: %s", len(text), type(err).__name__, err)
            return _cut_off(text, stream.current_message_snapshot, _ms_since(started))
        text = "".join(block.text for block in message.content if block.type == "text").strip()
        if not text:
            log.warning("static fallback: Claude returned no text (stop_reason=%s)", message.stop_reason)
            return fallback_reply(_ms_since(started))
        usage = message.usage
        return Reply(text, message.model, usage.input_tokens, usage.output_tokens, _ms_since(started))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _cut_off(text: str, snapshot, latency_ms: int) -> Reply:
    """What the user saw of a stream that failed midway, with the tokens the API had reported by then."""
    usage = snapshot.usage  # text arrived, so message_start (model, input tokens) had too
    return Reply(text.strip() + CUT_OFF_NOTE, snapshot.model, usage.input_tokens, usage.output_tokens,
                 latency_ms, cut_off=True)
