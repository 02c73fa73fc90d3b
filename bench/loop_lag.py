"""The event loop while the bot logs: how long a callback waits, beside the same handlers with no SQLite write."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from typing_extensions import override

from bench.data import exchange, fresh, rows
from bench.figures import Figure, p99
from bot.store import ConversationLog, Exchange
from bot.store.awaiting import WriterResults
from bot.store.backlog import Backlog
from bot.store.spool import Outcome

# 20x the most a Discord bot can send (50 requests/s globally), so a ceiling on exchanges.
PACED_RATE = 1000
HANDLERS = 50  # concurrent handlers, each awaiting its commit as the bot does
PROBE_S = 0.001  # the lag probe's period
IDLE_S = 2  # how long the idle loop is probed
RUNS = 3  # one run's p99 can jump on a shared 2-core machine (a flush, a neighbour): the median of three
LAG_TARGET_MS = 1
COMMIT_TARGET_MS = 100


class BacklogWithoutSQLite(Backlog):
    """The writer thread's way to the table, with the table left out: every group counts as logged."""

    @override
    def write(self, db: Database, rows: list[dict[str, Any]], replies: Sequence[dict[str, Any]] = ()) -> Outcome:
        return Outcome.LOGGED


class LogWithoutSQLite(ConversationLog):
    """The store's own hand-over, group commit and wake-ups, with the SQLite write left out."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.backlog = BacklogWithoutSQLite(self.spool, self.path)
        self.writer.backlog = self.backlog


class LagProbe:
    """Posts a callback to the loop every PROBE_S from another thread and keeps how late each ran (ms).

    A timer (`sleep(0.001)`) would measure epoll's millisecond timeout rounding instead: up to 1 ms
    late whenever anything else wakes the loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lags: list[float] = []
        self.stop = threading.Event()

    def record(self, posted: float) -> None:
        self.lags.append((time.perf_counter() - posted) * 1000)

    def post(self) -> None:
        while not self.stop.wait(PROBE_S):
            self.loop.call_soon_threadsafe(self.record, time.perf_counter())

    async def during(self, work: Awaitable[object]) -> None:
        prober = threading.Thread(target=self.post)
        prober.start()
        try:
            await work
        finally:
            self.stop.set()
            await asyncio.to_thread(prober.join)


async def loop_lag(
    log: type[ConversationLog] | None, path: Path, count: int, per_second: float | None = None
) -> tuple[float, float]:
    """p99 event-loop lag and p99 hand-over-to-commit (ms) while HANDLERS concurrent handlers log
    `count` exchanges, each awaiting its commit as the bot does. `per_second` paces the
    hand-overs (None: as fast as they go); with no `log`, the idle loop.
    """
    probe = LagProbe(asyncio.get_running_loop())
    latencies: list[float] = []
    writes = WriterResults()  # how BotService awaits the log

    async def handler(store: ConversationLog, offset: int, items: list[Exchange]) -> None:
        started = time.perf_counter()
        for n, item in enumerate(items):
            if per_second:  # this handler's share of a steady rate
                await asyncio.sleep(max(0.0, started + (n * HANDLERS + offset) / per_second - time.perf_counter()))
            handed = time.perf_counter()
            await writes.wait(store.submit(item))
            latencies.append((time.perf_counter() - handed) * 1000)

    if log is None:
        await probe.during(asyncio.sleep(IDLE_S))
    else:
        fresh(path, True)  # set up before the probe starts: only the logging is measured
        exchanges = [exchange(values) for values in rows(count, seed=14)]
        with log(path) as store:
            shares = (handler(store, i, exchanges[i::HANDLERS]) for i in range(HANDLERS))
            await probe.during(asyncio.gather(*shares))
    return p99(probe.lags), (p99(latencies) if latencies else 0.0)


def median_lag(log: type[ConversationLog], path: Path, count: int, per_second: float | None) -> tuple[float, float]:
    runs = [asyncio.run(loop_lag(log, path, count, per_second)) for _ in range(RUNS)]
    return statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs)


def lag_figures(work: Path, lag_rows: int) -> list[Figure]:
    idle, _ = asyncio.run(loop_lag(None, work / "idle.db", 0))
    path = work / "lag.db"
    paced, _ = median_lag(ConversationLog, path, lag_rows, PACED_RATE)
    paced_without, _ = median_lag(LogWithoutSQLite, path, lag_rows, PACED_RATE)
    saturated, latency = median_lag(ConversationLog, path, lag_rows, None)
    saturated_without, _ = median_lag(LogWithoutSQLite, path, lag_rows, None)
    return [
        Figure("write", "p99 event-loop lag, idle loop (the probe alone)", idle, "ms"),
        Figure(
            "write",
            f"p99 event-loop lag while {HANDLERS} handlers log {lag_rows:,} at {PACED_RATE:,}/s",
            paced,
            "ms",
            "same handlers, no SQLite write",
            paced_without,
            f"< {LAG_TARGET_MS} ms",
            paced < LAG_TARGET_MS,
        ),
        Figure(
            "write",
            f"p99 event-loop lag, the same {lag_rows:,} as fast as they go",
            saturated,
            "ms",
            "same handlers, no SQLite write",
            saturated_without,
        ),
        Figure(
            "write",
            "p99 hand-over to commit, each handler awaiting its commit",
            latency,
            "ms",
            target=f"≤ {COMMIT_TARGET_MS} ms",
            met=latency <= COMMIT_TARGET_MS,
        ),
    ]
