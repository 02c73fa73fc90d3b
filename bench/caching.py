"""`python -m bench.caching [--quick]`: what prompt caching saves on input, by the fake Claude's accounting.

No network: each scenario builds the requests the bot sends (the responder's body, marked by
bot/core/prompt_cache.mark_cache, with the memory's window of earlier turns) and bills them through
tests/support/fake_cache.py, the documented rules (minimum per model, 5-minute lifetime refreshed by
hits, prefix matching with a 20-block lookback), on a clock moved by the scenario. The fake counts a
word as a token. Input cost is in USD at the model's list price (bot/store/usage.py): input 1x, cache
write 1.25x, cache read 0.1x. Beside it:
- uncached: the same requests, every input token at 1x;
- floor: every token already sent in an earlier request of the scenario read at 0.1x, the rest paid
  once at 1x with no write premium: no cache can do better.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import click

from bot.core.prompt_cache import mark_cache
from bot.store.usage import CACHE_READ_MULTIPLIER, CACHE_WRITE_MULTIPLIER, DEFAULT_PRICES
from tests.support.fake_anthropic import content_tokens
from tests.support.fake_cache import PromptCache

SYSTEM_TOKENS = 3000  # the long system prompt
MEMORY_TURNS = 10  # the bot's default window (BOT_MEMORY_TURNS)
FILE_BYTES = 50_000  # the text file
WORD = "lorem "  # 6 bytes a word: 50 kB is about 8,300 of the fake's tokens
MAX_TOKENS = 1024
THREAD_TARGET, FLOOR_TARGET = 0.35, 1.2  # the 20-turn thread: <= 0.35x uncached, <= 1.2x the floor
PRICE = {model: price for model, _, price, _ in DEFAULT_PRICES}  # USD per million input tokens


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Bill:
    """The input cost of one scenario, in input tokens' worth (a token at 1x)."""

    exchanges: int = 0
    uncached: float = 0.0
    cached: float = 0.0
    floor: float = 0.0
    seen: set[str] = field(default_factory=set)

    def per_exchange_usd(self, units: float, model: str) -> float:
        return units / max(self.exchanges, 1) * PRICE[model] / 1e6


def words(count: int, tag: str) -> str:
    """`count` distinct words: each text of a scenario is its own."""
    return " ".join(f"{tag}{n}" for n in range(count))


def run(model: str, requests: Iterator[tuple[float, dict[str, Any]]]) -> Bill:
    """Bill each (seconds since the last request, body) through the fake's cache, and without one."""
    clock = Clock()
    cache, bill = PromptCache(content_tokens, clock), Bill()
    for gap, body in requests:
        clock.now += gap
        marked = mark_cache({"model": model, "max_tokens": MAX_TOKENS, **body}, model)
        used = cache.bill(marked)
        bill.exchanges += 1
        bill.cached += (
            used.input_tokens
            + CACHE_WRITE_MULTIPLIER * used.cache_creation_input_tokens
            + CACHE_READ_MULTIPLIER * used.cache_read_input_tokens
        )
        blocks = cache.blocks(marked)
        bill.uncached += sum(block.tokens for block in blocks)
        for block in blocks:
            repeated = block.identity in bill.seen
            bill.floor += block.tokens * (CACHE_READ_MULTIPLIER if repeated else 1)
            bill.seen.add(block.identity)
    return bill


def thread(
    system: str,
    turns: int,
    window: int,
    gap_s: float,
    ask: int,
    answer: int,
    first: list[dict[str, Any]] | None = None,
    step: int = 1,
) -> Iterator[tuple[float, dict[str, Any]]]:
    """One user's thread: each turn sends the last `window` exchanges and the new message (the first
    one carrying `first`'s blocks, a file); the bot's memory keeps the later turns as text. The bot's
    window slides one exchange a turn (step 1); a larger step drops that many at once when it is full."""
    history: list[dict[str, Any]] = []
    start = 0
    for turn in range(turns):
        text = words(ask, f"q{turn}_")
        content = [*first, {"type": "text", "text": text}] if first and turn == 0 else text
        if len(history) // 2 - start > window - 1 + (step > 1):
            start += step
        kept = history[-2 * window :] if step == 1 else history[2 * start :]
        yield gap_s, {"system": system, "messages": [*kept, {"role": "user", "content": content}]}
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": words(answer, f"a{turn}_")}]


def busy_channel(system: str, users: int, exchanges: int, gap_s: float) -> Iterator[tuple[float, dict[str, Any]]]:
    """Short exchanges from `users` people in one channel, in turn: each has a memory thread of its own."""
    threads = [thread(system, exchanges, MEMORY_TURNS, 0.0, 12, 40) for _ in range(users)]
    for n in range(exchanges):
        _, body = next(threads[n % users])
        yield gap_s, body


def scenarios(quick: bool) -> Iterator[tuple[str, str, Iterator[tuple[float, dict[str, Any]]]]]:
    system = words(SYSTEM_TOKENS, "s")
    text_file = [{"type": "text", "text": "[file: notes.md]\n" + WORD * (FILE_BYTES // len(WORD))}]
    turns, busy = (20, 60) if not quick else (20, 12)
    for model in ("claude-sonnet-4-5", "claude-haiku-4-5"):
        yield (
            "20-turn thread, 3,000-token system prompt, memory of 10 turns (default)",
            model,
            thread(system, turns, MEMORY_TURNS, 60, 30, 120),
        )
        yield (
            "20-turn thread, 3,000-token system prompt, memory of 20 turns",
            model,
            thread(system, turns, 20, 60, 30, 120),
        )
        yield (
            "20-turn thread, memory of 10 turns dropped 5 at a time (a what-if: not the bot)",
            model,
            thread(system, turns, MEMORY_TURNS, 60, 30, 120, step=MEMORY_TURNS // 2),
        )
        yield "busy channel: 10 users, short exchanges 10 s apart", model, busy_channel(system, 10, busy, 10)
        yield (
            "10-turn thread about a 50 kB text file (sent once)",
            model,
            thread(system, 10, MEMORY_TURNS, 60, 20, 150, text_file),
        )
    yield (
        "busy channel, a 40-word system prompt (under every minimum)",
        "claude-sonnet-4-5",
        busy_channel(words(40, "s"), 10, busy, 10),
    )


def table(quick: bool) -> list[str]:
    lines = [
        "| Scenario | Model | Uncached, USD/exchange | Cached | Floor | Cached/uncached | Cached/floor | Target | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, model, requests in scenarios(quick):
        bill = run(model, requests)
        saving, over = bill.cached / bill.uncached, bill.cached / bill.floor
        target, verdict = "", ""
        if name.startswith("20-turn") and model == "claude-sonnet-4-5":
            target = f"≤ {THREAD_TARGET}x, ≤ {FLOOR_TARGET}x floor"
            verdict = "met" if saving <= THREAD_TARGET and over <= FLOOR_TARGET else "**missed**"
        usd = [bill.per_exchange_usd(units, model) for units in (bill.uncached, bill.cached, bill.floor)]
        lines.append(
            f"| {name} | {model} | ${usd[0]:.5f} | ${usd[1]:.5f} | ${usd[2]:.5f} | {saving:.2f}x | {over:.2f}x "
            f"| {target} | {verdict} |"
        )
    return lines


@click.command()
@click.option("--quick", is_flag=True, help="A shorter busy channel, for the test suite.")
def main(quick: bool) -> None:
    """Print the table of input cost per exchange with and without prompt caching."""
    for line in table(quick):
        click.echo(line)


if __name__ == "__main__":
    main()
