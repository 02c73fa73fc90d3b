"""The write path: a burst through the bot's writer against raw sqlite3, and the WAL under load."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path

from bench.data import exchange, fresh, insert_sql, rows
from bench.figures import Figure, p99
from bench.loop_lag import lag_figures
from bot.store import ConversationLog, connect, queries
from bot.store.sqlite import sqlite3

# Rows for the one-transaction-per-row baseline: at ~3,000 rows/s, a burst's worth would take minutes.
PER_ROW_MAX = 5000
WAL_READERS = 8
WAL_TARGET_MB = 64
WAL_POLL_S = 0.2

Replicated = Callable[[Path], AbstractContextManager[object]]


def raw_executemany(path: Path, count: int, fts: bool) -> float:
    fresh(path, fts)
    data = list(rows(count, seed=11))  # generated before the clock starts, as for ours
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    with conn:
        conn.executemany(insert_sql(), data)
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def raw_per_row(path: Path, count: int, fts: bool) -> float:
    fresh(path, fts)
    data = list(rows(count, seed=12))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma synchronous = normal")
    started = time.perf_counter()
    for values in data:
        conn.execute("begin")
        conn.execute(insert_sql(), values)
        conn.execute("commit")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def ours_burst(path: Path, count: int, fts: bool, replicated: Replicated | None = None) -> tuple[float, float]:
    """Rows per second through ConversationLog, and the p99 milliseconds from hand-over to commit.

    `replicated(path)`, a context manager, runs Litestream on the log meanwhile (bench/replication.py).
    """
    fresh(path, fts)
    exchanges = [exchange(values) for values in rows(count, seed=13)]
    latencies: list[float] = []
    with (
        replicated(path) if replicated else contextlib.nullcontext(),
        ConversationLog(path, own_checkpoints=replicated is None) as store,
    ):
        started = time.perf_counter()
        futures = []
        for item in exchanges:
            handed = time.perf_counter()
            future = store.submit(item)
            future.add_done_callback(partial(note_latency, latencies, handed))
            futures.append(future)
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
    return count / elapsed, p99(latencies)


def note_latency(latencies: list[float], handed: float, _: Future[object]) -> None:
    latencies.append((time.perf_counter() - handed) * 1000)


def burst_figures(work: Path, burst: int, fts: bool) -> list[Figure]:
    label = "FTS on" if fts else "FTS off"
    bulk = raw_executemany(work / "raw.db", burst, fts)
    per_row = raw_per_row(work / "per_row.db", min(burst, PER_ROW_MAX), fts)
    rate, latency = ours_burst(work / "ours.db", burst, fts)
    return [
        Figure(
            "write",
            f"{burst:,}-exchange burst, group commit ({label})",
            rate,
            "rows/s",
            "raw executemany, one transaction",
            bulk,
            "≥ 0.5x",
            rate >= 0.5 * bulk,
        ),
        Figure(
            "write",
            f"same burst vs one transaction per row ({label})",
            rate,
            "rows/s",
            "raw sqlite3, a transaction per row",
            per_row,
            "≥ 3x",
            rate >= 3 * per_row,
        ),
        Figure("write", f"p99 queueing in that burst, all handed over at once ({label})", latency, "ms"),
    ]


def write_path(work: Path, burst: int, lag_rows: int) -> list[Figure]:
    return burst_figures(work, burst, True) + burst_figures(work, burst, False) + lag_figures(work, lag_rows)


def wal_bound(work: Path, seconds: float) -> list[Figure]:
    path = work / "wal.db"
    fresh(path, True)
    wal = Path(str(path) + "-wal")
    stop = threading.Event()
    peak = 0

    def write() -> None:
        with ConversationLog(path) as store:
            for values in rows(10**9, seed=21):
                if stop.is_set():
                    return
                store.submit(exchange(values)).result()

    def read() -> None:
        db = connect(path)
        while not stop.is_set():
            db.execute(queries.sql("user_history"), {"user": "user7", "limit": 10}).fetchall()
            db.execute("select * from conversations order by id desc limit 50").fetchall()
        db.close()

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(WAL_READERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, wal.stat().st_size if wal.exists() else 0)
        time.sleep(WAL_POLL_S)
    stop.set()
    for thread in threads:
        thread.join()
    mb = peak / 1024 / 1024
    return [
        Figure(
            "wal",
            f"largest -wal in {seconds:g} s of writes with {WAL_READERS} readers",
            mb,
            "MB",
            target=f"≤ {WAL_TARGET_MB} MB",
            met=mb <= WAL_TARGET_MB,
        )
    ]
