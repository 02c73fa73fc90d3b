"""The one builder of a Messages API request: the live responder sends what it returns, and the
`requests` export (request_export.py) rebuilds each logged row's request through it, so whatever it
adds (a parameter, cache markers) is replayed with no second copy to keep in step."""

from __future__ import annotations

from typing import Any

from anthropic.types import MessageParam

from bot.core.prompt_cache import mark_cache

RequestBody = dict[str, Any]  # the JSON body of POST /v1/messages, without `stream`


def build_request(system_prompt: str, messages: list[MessageParam], *, model: str, max_tokens: int) -> RequestBody:
    """The body for `messages` (earlier turns, then the new user message with its attachment blocks), with
    its prompt cache breakpoints (prompt_cache.py), which a replay therefore carries too."""
    body = {"model": model, "max_tokens": max_tokens, "system": system_prompt, "messages": messages}
    return mark_cache(body, model)
