"""Prompt caching: which parts of a Messages API request Claude may read back from its cache.

The documented rules (platform.claude.com/docs/en/build-with-claude/prompt-caching and
/docs/en/about-claude/pricing, read 2026-11-29):
- a cache read costs 0.1x the model's input price; a write 1.25x for the default 5-minute lifetime
  (2x for 1 hour); an entry lives 5 minutes from its last use, each read refreshing it;
- a prefix is cached only from a minimum length, silently: 4,096 tokens for Claude Haiku 4.5 and
  Opus 4.5, 1,024 for Sonnet 4.5 and Opus 4.1 (MIN_CACHEABLE_TOKENS);
- at most 4 breakpoints per request; at each one the API looks for a cached prefix ending there or up
  to 20 blocks before it, and writes the prefix up to it;
- automatic caching (one `cache_control` at the top of the request) marks the last cacheable block,
  so the breakpoint moves forward as a conversation grows.

The choice: automatic caching for the conversation, plus one explicit breakpoint on the system prompt.
- The automatic breakpoint falls on the new message, so this turn writes the conversation so far
  (memory turns or the reply chain, a file or image the message carries) and the next turn of the
  same conversation reads all of it at 0.1x, writing only its newest exchange. An explicit breakpoint
  on the last context turn instead would bill each new message at 1x now and 1.25x again next turn.
- The system prompt's own breakpoint is what every conversation shares: a new conversation, another
  channel, or a memory window just trimmed (bot/core/memory.py: it grows from 10 exchanges to 20, then
  trims back to 10, so once every 11 turns only the system prompt still matches) reads the system
  prompt from the cache instead of paying for it again. bench/caching.py has the figures.
- It is marked only when it could reach the model's minimum: a token is at least one character, so a
  shorter text can never be cached on its own, and the request then stays as it was (a plain string).
- A new message that carries a file or an image, in a conversation that sends none in its earlier
  turns, is not written: the bot sends a file once and later turns only name it
  (bot/store/attachment_column.as_text), so a 50 kB file written at 1.25x would never be read back
  (+25% on its tokens for nothing). The breakpoint goes on the end of the conversation so far instead.
  Should earlier turns carry files again, the automatic breakpoint caches them with the rest.
Two breakpoints of the four allowed.
"""

from __future__ import annotations

from typing import Any

EPHEMERAL = {"type": "ephemeral"}  # the default 5-minute lifetime: a write costs 1.25x, not 2x
# The documented minimum cacheable prefix, in tokens, per model; unlisted models get the smallest,
# so a marker is never withheld from a prompt that could be cached.
MIN_CACHEABLE_TOKENS = {
    "claude-haiku-4-5": 4096,
    "claude-opus-4-5": 4096,
    "claude-sonnet-4-5": 1024,
    "claude-opus-4-1": 1024,
}
SMALLEST_MINIMUM = min(MIN_CACHEABLE_TOKENS.values())


def minimum_tokens(model: str) -> int:
    """The documented minimum for `model`, by its alias or a dated id (claude-haiku-4-5-20251001)."""
    for alias, tokens in MIN_CACHEABLE_TOKENS.items():
        if model == alias or model.startswith(alias + "-"):
            return tokens
    return SMALLEST_MINIMUM


def mark_cache(body: dict[str, Any], model: str) -> dict[str, Any]:
    """`body` (the keyword arguments of messages.create/stream) with its cache breakpoints; a new dict."""
    marked = dict(body)
    system = body.get("system")
    if isinstance(system, str) and len(system) >= minimum_tokens(model):
        marked["system"] = [{"type": "text", "text": system, "cache_control": dict(EPHEMERAL)}]
    *context, new = body["messages"]
    if not carries_files(new) or any(carries_files(message) for message in context):
        marked["cache_control"] = dict(EPHEMERAL)  # automatic: the last block, the new message
    elif context:
        marked["messages"] = [*context[:-1], _marked(context[-1]), new]
    return marked


def carries_files(message: Any) -> bool:
    """Whether a message carries files: the bot sends a list of blocks only then, its images and text files
    (bot/core/attachments.user_content), and a plain string otherwise."""
    return not isinstance(message["content"], str)


def _marked(message: Any) -> dict[str, Any]:
    """`message` with a breakpoint on its last block."""
    content = message["content"]
    blocks: list[dict[str, Any]] = (
        [{"type": "text", "text": content}] if isinstance(content, str) else [dict(b) for b in content]
    )
    blocks[-1]["cache_control"] = dict(EPHEMERAL)
    return {**message, "content": blocks}
