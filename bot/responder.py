"""Answers from Claude through the official SDK, or a static fallback when Claude cannot answer."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anthropic

from .store.exchange import FALLBACK_MODEL

log = logging.getLogger(__name__)

FALLBACK_TEXT = (
    "Sorry, I can't reach my language model right now, so I can't give you a real answer. "
    "Your message was received; please try again in a little while."
)


@dataclass(frozen=True)
class Reply:
    text: str
    model: str | None  # None when no model answered (the bot's own hint for an empty message)
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    logged: bool = False  # the exchange is in the permanent log (so a rating of the reply can find it)


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

    async def reply(self, messages: list[dict]) -> Reply:
        """`messages` alternate user/assistant and end with the new user message."""
        if self.client is None:
            log.warning("static fallback: ANTHROPIC_API_KEY is not set")
            return fallback_reply()
        started = time.perf_counter()
        try:
            message = await self.client.messages.create(
                model=self.model, max_tokens=self.max_tokens, system=self.system_prompt, messages=messages,
            )
        except anthropic.APIError as err:
            # Every SDK failure (401, 429, 5xx, 529, timeout, refused) ends here; the user
            # gets the fallback and the reason stays in our log, not in the chat.
            log.warning("static fallback: Claude request failed: %s: %s", type(err).__name__, err)
            return fallback_reply(_ms_since(started))
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
