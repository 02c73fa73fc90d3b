"""`python -m bench.replication --rows 1000000`: what Litestream costs and how fast a lost disk comes back.

- restore: a log of N generated rows is replicated to a file:// replica (`litestream replicate
  -once`), then restored into a new file as start-up does on an empty disk;
- write path: the burst of bench/writes.py, with and without Litestream replicating the log,
  each against raw sqlite3 with a transaction per row (the burst ratio, target ≥ 3x);
- catch-up: how long after the burst's last commit the replica holds every row.

`--quick` runs small sizes in seconds for the test suite; it reports and checks no timing.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import click

from bench.data import build
from bench.figures import Figure
from bench.report import report
from bench.writes import PER_ROW_MAX, Replicated, ours_burst, raw_per_row
from bot.config.settings import Settings
from bot.core.memory import Memory
from bot.replica import litestream as replication
from bot.replica.replicator import Replicator
from bot.store.sqlite import sqlite3

RESTORE_TARGET_S = 60.0
BURST_RATIO_TARGET = 3.0
CATCH_UP_TIMEOUT_S = 600.0


def settings_for(log_db: Path, replica: Path) -> Settings:
    return Settings.from_env(
        {
            "CONVERSATION_LOG_DB": str(log_db),
            "BOT_MEMORY_DB": str(log_db.with_name("memory.db")),
            "LITESTREAM_REPLICA_URL": f"file://{replica}",
        },
        dotenv_path=None,
    )


def restore_time(work: Path, count: int) -> list[Figure]:
    log_db = work / "restore" / "conversation_logs.db"
    log_db.parent.mkdir(parents=True)
    build(log_db, count)
    settings = settings_for(log_db, work / "restore-replica")
    Memory(settings.memory_db).open().close()  # `-once` wants every configured database to exist
    started = time.perf_counter()
    subprocess.run(
        [replication.litestream_binary(), "replicate", "-once", "-config", str(replication.write_config(settings))],
        check=True,
        capture_output=True,
    )
    seeded = time.perf_counter() - started
    target = work / "restored.db"
    started = time.perf_counter()
    assert replication.restore(settings, "conversation_logs.db", target)
    restored = time.perf_counter() - started
    with sqlite3.connect(target) as conn:
        found = conn.execute("select count(*) from conversations").fetchone()[0]
    assert found == count, f"restored {found:,} of {count:,} rows"
    size_mb = target.stat().st_size / 2**20
    return [
        Figure("replication", f"first upload of a {count:,}-row log ({size_mb:,.0f} MB) to file://", seeded, "s"),
        Figure(
            "replication",
            f"restore of that log onto an empty disk ({found:,} rows)",
            restored,
            "s",
            target=f"≤ {RESTORE_TARGET_S:g} s",
            met=restored <= RESTORE_TARGET_S,
        ),
    ]


@contextlib.contextmanager
def replicating(replica: Path, caught_up: list[float]) -> Iterator[Replicated]:
    """Litestream on the log while the burst runs; records how long the replica took to catch up."""

    def run(path: Path) -> Iterator[None]:
        settings = settings_for(path, replica)
        replicator = Replicator(settings).start()
        try:
            yield
            done = time.perf_counter()
            deadline = done + CATCH_UP_TIMEOUT_S
            while replication.lag(settings).waiting_seconds and time.perf_counter() < deadline:
                time.sleep(0.1)
            caught_up.append(time.perf_counter() - done)
        finally:
            replicator.stop()

    yield contextlib.contextmanager(run)


def write_cost(work: Path, burst: int) -> list[Figure]:
    per_row = raw_per_row(work / "per_row.db", min(burst, PER_ROW_MAX), True)
    off, _ = ours_burst(work / "off.db", burst, True)
    caught_up: list[float] = []
    (work / "on").mkdir()
    with replicating(work / "burst-replica", caught_up) as replicated:
        on, latency = ours_burst(work / "on" / "conversation_logs.db", burst, True, replicated)
    return [
        Figure(
            "replication",
            f"{burst:,}-exchange burst, replication off",
            off,
            "rows/s",
            "raw sqlite3, a transaction per row",
            per_row,
            f"≥ {BURST_RATIO_TARGET:g}x",
            off >= BURST_RATIO_TARGET * per_row,
        ),
        Figure(
            "replication",
            "same burst, Litestream replicating (sync every 1 s)",
            on,
            "rows/s",
            "raw sqlite3, a transaction per row",
            per_row,
            f"≥ {BURST_RATIO_TARGET:g}x",
            on >= BURST_RATIO_TARGET * per_row,
        ),
        Figure("replication", "p99 queueing in that burst, replication on", latency, "ms"),
        Figure("replication", "replica holds every row, after the burst's last commit", caught_up[0], "s"),
    ]


@click.command()
@click.option("--rows", "rows_count", default=1_000_000, show_default=True, help="Rows in the log to restore.")
@click.option("--burst", default=100_000, show_default=True, help="Exchanges in the write burst.")
@click.option("--quick", is_flag=True, help="Small sizes, for CI: reports, checks no timing.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the Markdown table here.",
)
def main(rows_count: int, burst: int, quick: bool, output: Path | None) -> None:
    """Measure restore time and replication's cost on the write path."""
    if quick:
        rows_count, burst = min(rows_count, 2000), min(burst, 2000)
    work = Path(tempfile.mkdtemp(prefix="bench-replication-"))
    try:
        started = time.perf_counter()
        figures = write_cost(work, burst) + restore_time(work, rows_count)
        table = report(figures, rows_count, time.perf_counter() - started)
        click.echo(table)
        if output:
            output.write_text(table)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
