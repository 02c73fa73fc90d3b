"""The fake Claude's prompt cache: what a request's `usage` says was written to, read from, and not
served by the cache, by the documented rules (platform.claude.com/docs/en/build-with-claude/prompt-caching,
read 2026-11-29):

- a breakpoint is a block with `cache_control`, or the last block of the request when `cache_control`
  is at its top (automatic caching); at most 4 per request, else a 400;
- the prefix up to a breakpoint (system blocks, then each message's blocks, in order) is written only
  when it holds at least the model's minimum: 4,096 tokens for Haiku 4.5 and Opus 4.5, 1,024 for
  Sonnet 4.5 and Opus 4.1;
- a read is the longest cached prefix that ends at a breakpoint or up to 20 blocks before one;
- an entry lives 5 minutes ("5m", the default) or an hour ("1h") from its last use: each hit refreshes it;
- usage: cache_read_input_tokens is the read prefix, cache_creation_input_tokens the rest up to the last
  written breakpoint, input_tokens what follows; the three add up to the prompt's tokens.
The clock is injectable, so a test moves time instead of waiting.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

MIN_CACHEABLE_TOKENS = {
    "claude-haiku-4-5": 4096,
    "claude-opus-4-5": 4096,
    "claude-opus-4-6": 4096,
    "claude-sonnet-4-5": 1024,
    "claude-opus-4-1": 1024,
}
OTHER_MODELS_MIN = 1024  # the documented minimum of the other current models (Sonnet 4, Opus 4)
MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
TTL_S = {"5m": 5 * 60, "1h": 60 * 60}
DEFAULT_TTL = "5m"

Tokens = Callable[[str | list], int]  # the fake's count of a message's content


@dataclass(frozen=True)
class CacheUsage:
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    ttl: str  # the lifetime the written tokens were cached for


@dataclass(frozen=True)
class Block:
    identity: str  # the block as sent, without its cache_control: what a prefix must match
    tokens: int
    ttl: str | None  # the breakpoint's lifetime; None when the block is no breakpoint


def minimum_tokens(model: str) -> int:
    for alias, tokens in MIN_CACHEABLE_TOKENS.items():
        if model == alias or model.startswith(alias + "-"):
            return tokens
    return OTHER_MODELS_MIN


def cache_problem(body: dict) -> str | None:
    """What the API says of the request's cache_control markers: a bad type or lifetime, or more than 4."""
    markers = [(where, block["cache_control"]) for where, block in _raw_blocks(body) if "cache_control" in block]
    if "cache_control" in body:
        markers.append(("cache_control", body["cache_control"]))
    for where, marker in markers:
        if not isinstance(marker, dict) or marker.get("type") != "ephemeral":
            return f"{where}.type: Input should be 'ephemeral'"
        if marker.get("ttl", DEFAULT_TTL) not in TTL_S:
            return f"{where}.ttl: Input should be '5m' or '1h'"
    if len(markers) > MAX_BREAKPOINTS:
        return f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(markers)}."
    return None


def _raw_blocks(body: dict) -> list[tuple[str, dict]]:
    """(where, block) of every block of the prompt, in order; a string is one text block."""
    system = body.get("system") or []
    blocks = [
        (f"system.{n}", b)
        for n, b in enumerate([{"type": "text", "text": system}] if isinstance(system, str) else system)
    ]
    for index, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        listed = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        blocks += [
            (f"messages.{index}.content.{n}", {**block, "role": message.get("role")}) for n, block in enumerate(listed)
        ]
    return blocks


class PromptCache:
    """The cache of one organisation: prefix digest -> when the entry expires (the clock's seconds)."""

    def __init__(self, tokens: Tokens, clock: Callable[[], float] = time.monotonic) -> None:
        self.tokens = tokens
        self.clock = clock
        self.entries: dict[str, tuple[float, str]] = {}  # digest -> (expiry, ttl)

    def bill(self, body: dict) -> CacheUsage:
        now = self.clock()
        self.entries = {key: entry for key, entry in self.entries.items() if entry[0] > now}
        blocks = self.blocks(body)
        digests, ends = _digests(body["model"], blocks), _running_sums(blocks)
        marks = [i for i, block in enumerate(blocks) if block.ttl is not None]
        read_at = self._longest_hit(digests, marks)
        if read_at >= 0:
            self._refresh(digests[read_at], now)
        read = ends[read_at] if read_at >= 0 else 0
        written_at = self._write(body["model"], blocks, digests, ends, marks, read_at, now)
        written = ends[written_at] - read if written_at > read_at else 0
        ttl = blocks[written_at].ttl if written_at > read_at else DEFAULT_TTL
        return CacheUsage(ends[-1] - read - written if blocks else 0, written, read, ttl or DEFAULT_TTL)

    def blocks(self, body: dict) -> list[Block]:
        raw = _raw_blocks(body)
        automatic = body.get("cache_control")
        blocks = []
        for number, (_, block) in enumerate(raw):
            marker = block.get("cache_control") or (automatic if number == len(raw) - 1 else None)
            plain = {key: value for key, value in block.items() if key not in ("cache_control", "role")}
            blocks.append(
                Block(
                    json.dumps([block.get("role", "system"), plain], sort_keys=True),
                    self.tokens([plain]),
                    None if marker is None else marker.get("ttl", DEFAULT_TTL),
                )
            )
        return blocks

    def _longest_hit(self, digests: list[str], marks: list[int]) -> int:
        """The last block of the longest cached prefix ending at a breakpoint or within 20 blocks before one."""
        best = -1
        for mark in marks:
            for at in range(mark, max(mark - LOOKBACK_BLOCKS, -1), -1):
                if digests[at] in self.entries:
                    best = max(best, at)
                    break
        return best

    def _refresh(self, digest: str, now: float) -> None:
        ttl = self.entries[digest][1]
        self.entries[digest] = (now + TTL_S[ttl], ttl)

    def _write(
        self,
        model: str,
        blocks: list[Block],
        digests: list[str],
        ends: list[int],
        marks: list[int],
        read_at: int,
        now: float,
    ) -> int:
        """Cache the prefix at each breakpoint past the read one that reaches the minimum; the last one written."""
        last = -1
        for mark in marks:
            if mark > read_at and ends[mark] >= minimum_tokens(model):
                ttl = blocks[mark].ttl or DEFAULT_TTL
                self.entries[digests[mark]] = (now + TTL_S[ttl], ttl)
                last = mark
        return last


def _digests(model: str, blocks: list[Block]) -> list[str]:
    """The digest of each prefix: the model and every block up to and including it."""
    running = hashlib.sha256(model.encode())
    digests = []
    for block in blocks:
        running.update(block.identity.encode())
        digests.append(running.copy().hexdigest())
    return digests


def _running_sums(blocks: list[Block]) -> list[int]:
    sums, total = [], 0
    for block in blocks:
        total += block.tokens
        sums.append(total)
    return sums
