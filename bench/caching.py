"""`python -m bench.caching [--quick]`: what prompt caching saves on input, by the fake Claude's accounting.

No network: each scenario builds the requests the bot sends (the responder's body, marked by
bot/core/prompt_cache.mark_cache, with the earlier turns the bot's own memory, bot/core/memory.py on a
temporary bot_memory.db, gives as context) and bills them through tests/support/fake_cache.py, the
documented rules (minimum per model, 5-minute lifetime refreshed by hits, prefix matching with a
20-block lookback), on a clock moved by the scenario and shared by the memory. The fake counts a word as
a token. Input cost is in USD at the model's list price (bot/store/usage.py): input 1x, cache write
1.25x, cache read 0.1x. Beside it:
- uncached: the same requests, every input token at 1x;
- floor: every token already sent in an earlier request of the scenario read at 0.1x, the rest paid
  once at 1x with no write premium: no cache can do better.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import click

from bot.core.memory import Memory
from bot.core.prompt_cache import mark_cache
from bot.store.usage import CACHE_READ_MULTIPLIER, CACHE_WRITE_MULTIPLIER, DEFAULT_PRICES
from tests.support.fake_anthropic import content_tokens
from tests.support.fake_cache import PromptCache

SYSTEM_TOKENS = 3000  # the long system prompt
DEFAULT_WINDOW = (10, 20)  # the bot's memory: BOT_MEMORY_TURNS, growing to BOT_MEMORY_MAX_TURNS
SLIDING_WINDOW = (10, 10)  # BOT_MEMORY_MAX_TURNS=10: slides one exchange a turn, as before issue 23's fix
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


Scenario = Callable[[Clock], Iterator[dict[str, Any]]]  # the requests' bodies, moving the clock between them


def run(model: str, scenario: Scenario) -> Bill:
    """Bill each request through the fake's cache, and without one."""
    clock = Clock()
    cache, bill = PromptCache(content_tokens, clock), Bill()
    for body in scenario(clock):
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


def talk(
    clock: Clock,
    *,
    system: str,
    speakers: list[str],
    window: tuple[int, int],
    gap_s: float,
    ask: int,
    answer: int,
    first: list[dict[str, Any]] | None = None,
) -> Iterator[dict[str, Any]]:
    """One exchange per speaker in `speakers`, `gap_s` apart, in one channel: each request carries the
    speaker's memory thread as the bot's Memory (`window`: its turns and max_turns) gives it, and the
    new message (the first one carrying `first`'s blocks, a file: the memory keeps only the text)."""
    with tempfile.TemporaryDirectory() as tmp:
        turns, max_turns = window
        memory = Memory(Path(tmp) / "bot_memory.db", turns=turns, max_turns=max_turns, clock=clock).open()
        for n, user in enumerate(speakers):
            clock.now += gap_s
            text = words(ask, f"{user}q{n}_")
            content = [*first, {"type": "text", "text": text}] if first and n == 0 else text
            context = memory.context("channel", user)
            yield {"system": system, "messages": [*context.messages, {"role": "user", "content": content}]}
            reply = words(answer, f"{user}a{n}_")
            memory.remember("channel", user, context.conversation_id, text, reply, message_id=f"{user}-{n}")
        memory.close()


def thread(system: str, turns: int, window: tuple[int, int], **kwargs: Any) -> Scenario:
    """One user's thread, one turn a minute, messages of 30 words and replies of 120 unless told."""
    kwargs = {"gap_s": 60, "ask": 30, "answer": 120, **kwargs}
    return partial(talk, system=system, speakers=["u"] * turns, window=window, **kwargs)


def busy_channel(system: str, users: int, exchanges: int, gap_s: float) -> Scenario:
    """Short exchanges from `users` people in one channel, in turn: each has a memory thread of its own."""
    speakers = [f"u{n % users}" for n in range(exchanges)]
    return partial(talk, system=system, speakers=speakers, window=DEFAULT_WINDOW, gap_s=gap_s, ask=12, answer=40)


def scenarios(quick: bool) -> Iterator[tuple[str, str, Scenario]]:
    system, short = words(SYSTEM_TOKENS, "s"), words(40, "s")
    text_file = [{"type": "text", "text": "[file: notes.md]\n" + WORD * (FILE_BYTES // len(WORD))}]
    busy = 60 if not quick else 12
    long_thread = "3,000-token system prompt"
    for model in ("claude-sonnet-4-5", "claude-haiku-4-5"):
        yield (
            f"20-turn thread, {long_thread}, memory of 10 growing to 20 (default)",
            model,
            thread(system, 20, DEFAULT_WINDOW),
        )
        yield (
            f"20-turn thread, {long_thread}, memory of 10 sliding (BOT_MEMORY_MAX_TURNS=10)",
            model,
            thread(system, 20, SLIDING_WINDOW),
        )
        yield (
            f"20-turn thread, {long_thread}, memory of 20 growing to 40 (BOT_MEMORY_TURNS=20)",
            model,
            thread(system, 20, (20, 40)),
        )
        yield (
            f"40-turn thread, {long_thread}, memory of 10 growing to 20 (default)",
            model,
            thread(system, 40, DEFAULT_WINDOW),
        )
        yield "busy channel: 10 users, short exchanges 10 s apart", model, busy_channel(system, 10, busy, 10)
        yield (
            "10-turn thread about a 50 kB text file (sent once)",
            model,
            thread(system, 10, DEFAULT_WINDOW, ask=20, answer=150, first=text_file),
        )
    for name, window in (
        ("10 growing to 20 (default)", DEFAULT_WINDOW),
        ("10 sliding (BOT_MEMORY_MAX_TURNS=10)", SLIDING_WINDOW),
    ):
        scenario = thread(short, 40, window, ask=12, answer=40)
        yield (
            f"40-turn thread of short exchanges, 40-word system prompt, memory of {name}",
            "claude-haiku-4-5",
            scenario,
        )
    yield (
        "busy channel, a 40-word system prompt (under every minimum)",
        "claude-sonnet-4-5",
        busy_channel(short, 10, busy, 10),
    )


def table(quick: bool) -> list[str]:
    lines = [
        "| Scenario | Model | Uncached, USD/exchange | Cached | Floor | Cached/uncached | Cached/floor | Target | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, model, scenario in scenarios(quick):
        bill = run(model, scenario)
        saving, over = bill.cached / bill.uncached, bill.cached / bill.floor
        target, verdict = "", ""
        if name.startswith("20-turn thread, 3,000") and model == "claude-sonnet-4-5":
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
