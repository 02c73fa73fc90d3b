"""`python -m bench.streaming [--quick]`: how fast streamed replies show, and a burst of them.

The real bot (discord.py, the anthropic SDK, the log) against the loopback fakes, which run in a
process of their own (bench/fakes_process.py says why) so the bot's process carries only the bot:

- latency: from the fake API's first text delta to the first text Discord receives, at ~50
  tokens/s (one word a delta, 20 ms apart), each sample in a channel of its own (target: at most
  one edit interval, EDIT_INTERVAL_S);
- burst: N users at once, each in a channel of their own, then N in one channel, where Discord's
  limit (5 sends/edits per 5 s) makes discord.py wait out its buckets and any 429: every reply
  must end complete and be logged once, and the bot's event-loop lag p99 stays under 1 ms.

It reports what it saw; `--quick` runs small sizes for the test suite.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import click
import discord
import yarl

from bench.fakes_process import FakesProcess
from bench.figures import Figure
from bot.config.settings import Settings
from bot.discord_front.live_reply import EDIT_INTERVAL_S
from tests.conftest import log_rows, running_bot

WORD_DELAY_S = 0.02  # 50 words (the fake's tokens) a second
LAG_TICK_S = 0.005  # the lag probe's sleep
LAG_TARGET_MS = 1.0
IDLE_S = 3.0  # the idle baseline's length


async def watch_lag(lags: list[float], stop: asyncio.Event) -> None:
    """How late the bot's loop wakes from a short sleep: the time any callback waited for it."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await asyncio.sleep(LAG_TICK_S)
        lags.append((loop.time() - started - LAG_TICK_S) * 1000)


async def measure(work: Path, samples: int, burst: int, words: int) -> list[Figure]:
    fakes = FakesProcess(channels=max(samples, burst), users=burst, words_per_delta=1, stream_delay=WORD_DELAY_S)
    ends = fakes.endpoints
    discord.http.Route.BASE = ends.api_base  # the two settings field-notes.md names
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ends.gateway_url)
    settings = Settings(
        discord_token="bench",
        anthropic_api_key=ends.claude_key,
        anthropic_base_url=ends.claude_url,
        api_timeout=30.0,
        api_max_retries=0,
        log_db=work / "conversation_logs.db",
        memory_db=work / "memory.db",
        rate_limit=(0, 0.0),
    )
    try:
        async with running_bot(settings, None):  # type: ignore[arg-type]  # the fakes run in another process
            return await _scenarios(fakes, settings, burst, samples, words)
    finally:
        fakes.stop()


async def idle_lag(seconds: float) -> float:
    """The lag p99 with the bot connected and idle: this machine's floor (other processes, the fakes' thread)."""
    lags: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_lag(lags, stop))
    await asyncio.sleep(seconds)
    stop.set()
    await watcher
    p99: float = statistics.quantiles(lags, n=100)[98]
    return p99


async def _scenarios(fakes: FakesProcess, settings: Settings, burst: int, samples: int, words: int) -> list[Figure]:
    floor = await idle_lag(IDLE_S)
    latencies = [(await fakes.ask([0], [f"bench{i}"], words)).first_text_after_first_delta_s for i in range(samples)]
    figures = [
        Figure(
            "streaming",
            f"first token to first text in Discord, median of {samples} (~50 tokens/s)",
            statistics.median(latencies) * 1000,
            "ms",
        ),
        Figure(
            "streaming",
            "same, worst sample",
            max(latencies) * 1000,
            "ms",
            target=f"≤ {EDIT_INTERVAL_S * 1000:.0f} ms",
            met=max(latencies) <= EDIT_INTERVAL_S,
        ),
    ]
    for label, channels in (
        (f"{burst} users at once, a channel each", [f"bench{i}" for i in range(burst)]),
        (f"{burst} users at once in one channel", ["general"] * burst),
    ):
        figures += await _burst(fakes, settings, channels, label, words, floor)
    return figures


async def _burst(
    fakes: FakesProcess, settings: Settings, channels: list[str], label: str, words: int, floor: float
) -> list[Figure]:
    expected = " ".join(f"w{i}" for i in range(words))
    users = len(channels)
    refused_before = await fakes.refused()
    rows_before = len(log_rows(settings))
    lags: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_lag(lags, stop))
    asked = await fakes.ask(list(range(users)), channels, words)
    stop.set()
    await watcher
    rows = log_rows(settings)[rows_before:]
    complete = sum(content == expected for content in asked.contents)
    logged_once = len(rows) == users and len({r["message_id"] for r in rows}) == users
    p99 = statistics.quantiles(lags, n=100)[98]
    return [
        Figure(
            "streaming",
            f"{label}: replies complete / logged once",
            complete,
            f"of {users}",
            target="all, once",
            met=complete == users and logged_once,
        ),
        Figure("streaming", f"{label}: until every reply was complete", asked.seconds, "s"),
        Figure(
            "streaming",
            f"{label}: 429s Discord answered (discord.py waited them out)",
            asked.refused - refused_before,
            "429s",
        ),
        Figure(
            "streaming",
            f"{label}: bot event-loop lag p99 ({len(lags)} probes)",
            p99,
            "ms",
            baseline=f"bot idle, {IDLE_S:g} s",
            baseline_value=floor,
            target=f"< {LAG_TARGET_MS:g} ms",
            met=p99 < LAG_TARGET_MS,
        ),
    ]


@click.command()
@click.option("--quick", is_flag=True, help="Small sizes for the test suite: 2 samples, a burst of 5, short replies.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the Markdown table here.",
)
def main(quick: bool, output: Path | None) -> None:
    """Measure streamed replies: first-text latency, and bursts against Discord's rate limit."""
    samples, burst, words = (2, 5, 20) if quick else (10, 20, 100)
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as work:
        started = time.perf_counter()
        figures = asyncio.run(measure(Path(work), samples, burst, words))
    table = (
        "\n".join(
            [
                f"Streamed replies of {words} words at ~50 tokens/s, edit interval {EDIT_INTERVAL_S:g} s, "
                f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d', time.gmtime())}, "
                f"{time.perf_counter() - started:.0f} s in all.",
                "",
                "| Area | Measurement | Ours | Baseline (same run) | Ratio | Target | |",
                "|---|---|---|---|---|---|---|",
                *[figure.row() for figure in figures],
            ]
        )
        + "\n"
    )
    click.echo(table)
    if output:
        output.write_text(table)


if __name__ == "__main__":
    main()
