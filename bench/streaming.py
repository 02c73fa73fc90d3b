"""`python -m bench.streaming [--quick]`: how fast streamed replies show, and a burst of them.

The real bot (discord.py, the anthropic SDK, the log) against the loopback fakes, which run on
their own thread and event loop so the bot's loop carries only the bot's work:

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
import threading
import time
from pathlib import Path

import click
import discord
import yarl

from bench.__main__ import Figure
from bot.live_reply import EDIT_INTERVAL_S
from bot.settings import Settings
from tests.conftest import log_rows, running_bot
from tests.fake_anthropic import FakeAnthropic
from tests.fake_discord import FakeDiscord

WORD_DELAY_S = 0.02  # 50 words (the fake's tokens) a second
LAG_TICK_S = 0.005  # the lag probe's sleep
LAG_TARGET_MS = 1.0
IDLE_S = 3.0  # the idle baseline's length
REPLY_TIMEOUT_S = 300.0


class Fakes:
    """FakeDiscord and FakeAnthropic on a thread and event loop of their own."""

    def __init__(self, channels: int):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.discord, self.claude = self.call(self._start(channels))

    async def _start(self, channels: int):
        fake = FakeDiscord()
        fake.guilds[0].channels.update({f"bench{i}": str(10**18 + i) for i in range(channels)})
        return await fake.start(), await FakeAnthropic().start()

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def wait(self, coroutine):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def stop(self) -> None:
        self.call(self.discord.stop())
        self.call(self.claude.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)


async def watch_lag(lags: list[float], stop: asyncio.Event) -> None:
    """How late the bot's loop wakes from a short sleep: the time any callback waited for it."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await asyncio.sleep(LAG_TICK_S)
        lags.append((loop.time() - started - LAG_TICK_S) * 1000)


async def ask(fakes: Fakes, users: list, channels: list[str], words: int) -> tuple[list, float]:
    """Each user asks at once in their channel; returns the bot's messages and the seconds until all were complete."""
    fakes.claude.reply_text = lambda body: " ".join(f"w{i}" for i in range(words))
    before = len(fakes.discord.sent)
    started = time.perf_counter()
    for user, channel in zip(users, channels):
        await fakes.wait(fakes.discord.user_says(user, "stream please", channel=channel, mention_bot=True))
    sent = await fakes.wait(fakes.discord.wait_for_sent(before + len(users), timeout=REPLY_TIMEOUT_S))
    return sent[before:], time.perf_counter() - started


async def measure(work: Path, samples: int, burst: int, words: int) -> list[Figure]:
    fakes = Fakes(channels=max(samples, burst))
    discord.http.Route.BASE = fakes.discord.api_base  # the two settings field-notes.md names
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fakes.discord.gateway_url)
    fakes.claude.words_per_delta, fakes.claude.stream_delay = 1, WORD_DELAY_S
    users = [fakes.discord.add_member(f"user{i}") for i in range(burst)]
    settings = Settings(discord_token="bench", anthropic_api_key=fakes.claude.api_key,
                        anthropic_base_url=fakes.claude.url, api_timeout=30.0, api_max_retries=0,
                        log_db=work / "conversation_logs.db", memory_db=work / "memory.db", rate_limit=(0, 0.0))
    try:
        async with running_bot(settings, fakes.discord):
            return await _scenarios(fakes, settings, users, samples, burst, words)
    finally:
        fakes.stop()


async def idle_lag(seconds: float) -> float:
    """The lag p99 with the bot connected and idle: this machine's floor (other processes, the fakes' thread)."""
    lags, stop = [], asyncio.Event()
    watcher = asyncio.create_task(watch_lag(lags, stop))
    await asyncio.sleep(seconds)
    stop.set()
    await watcher
    return statistics.quantiles(lags, n=100)[98]


async def _scenarios(fakes: Fakes, settings: Settings, users: list, samples: int, burst: int,
                     words: int) -> list[Figure]:
    floor = await idle_lag(IDLE_S)
    latencies = []
    for i in range(samples):
        [message], _ = await ask(fakes, users[:1], [f"bench{i}"], words)
        latencies.append(message.versions[0][0] - fakes.claude.first_delta_at[-1])
    figures = [Figure("streaming", f"first token to first text in Discord, median of {samples} (~50 tokens/s)",
                      statistics.median(latencies) * 1000, "ms"),
               Figure("streaming", "same, worst sample", max(latencies) * 1000, "ms",
                      target=f"≤ {EDIT_INTERVAL_S * 1000:.0f} ms", met=max(latencies) <= EDIT_INTERVAL_S)]
    for label, channels in ((f"{burst} users at once, a channel each", [f"bench{i}" for i in range(burst)]),
                            (f"{burst} users at once in one channel", ["general"] * burst)):
        figures += await _burst(fakes, settings, users, channels, label, words, floor)
    return figures


async def _burst(fakes: Fakes, settings: Settings, users: list, channels: list[str], label: str,
                 words: int, floor: float) -> list[Figure]:
    expected = " ".join(f"w{i}" for i in range(words))
    refused_before, rows_before = fakes.discord.limits.refused, len(log_rows(settings))
    lags, stop = [], asyncio.Event()
    watcher = asyncio.create_task(watch_lag(lags, stop))
    sent, seconds = await ask(fakes, users, channels, words)
    stop.set()
    await watcher
    rows = log_rows(settings)[rows_before:]
    complete = sum(m.content == expected for m in sent)
    logged_once = len(rows) == len(users) and len({r["message_id"] for r in rows}) == len(users)
    p99 = statistics.quantiles(lags, n=100)[98]
    return [
        Figure("streaming", f"{label}: replies complete / logged once", complete, f"of {len(users)}",
               target="all, once", met=complete == len(users) and logged_once),
        Figure("streaming", f"{label}: until every reply was complete", seconds, "s"),
        Figure("streaming", f"{label}: 429s Discord answered (discord.py waited them out)",
               fakes.discord.limits.refused - refused_before, "429s"),
        Figure("streaming", f"{label}: bot event-loop lag p99 ({len(lags)} probes)", p99, "ms",
               baseline=f"bot idle, {IDLE_S:g} s", baseline_value=floor,
               target=f"< {LAG_TARGET_MS:g} ms", met=p99 < LAG_TARGET_MS),
    ]


@click.command()
@click.option("--quick", is_flag=True, help="Small sizes for the test suite: 2 samples, a burst of 5, short replies.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the Markdown table here.")
def main(quick: bool, output: Path | None) -> None:
    """Measure streamed replies: first-text latency, and bursts against Discord's rate limit."""
    samples, burst, words = (2, 5, 20) if quick else (10, 20, 100)
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as work:
        started = time.perf_counter()
        figures = asyncio.run(measure(Path(work), samples, burst, words))
    table = "\n".join([
        f"Streamed replies of {words} words at ~50 tokens/s, edit interval {EDIT_INTERVAL_S:g} s, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d', time.gmtime())}, "
        f"{time.perf_counter() - started:.0f} s in all.", "",
        "| Area | Measurement | Ours | Baseline (same run) | Ratio | Target | |",
        "|---|---|---|---|---|---|---|", *[figure.row() for figure in figures]]) + "\n"
    click.echo(table)
    if output:
        output.write_text(table)


if __name__ == "__main__":
    main()
