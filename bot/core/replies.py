"""What an answer from Claude becomes: a Reply, whole, cut at the length limit, refused, cut off
midway, or the static fallback, with the texts the user sees in each case."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from anthropic.lib.streaming import AsyncMessageStream
from anthropic.types import Message, Usage

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


def finished_reply(
    message: Message, latency_ms: int, stream: AsyncMessageStream[None] | None, max_tokens: int
) -> Reply:
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
        text += LENGTH_NOTE.format(limit=max_tokens)
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


def cut_off_reply(text: str, stream: AsyncMessageStream[None], latency_ms: int) -> Reply:
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
