"""`python -m bench --growth`: how each operation's time grows with the log, at 10k, 100k and 1M conversations.

The log grows in place (each stage adds generated rows spread over the same year, 1% of replies rated),
and at each size we time !stats, !history, the dashboard's queries, the Datasette table page, a topic
search, the full CSV export and a burst of writes. Flat lines are what summary tables and indexes promise;
the export should grow linearly. Writes a Markdown table and a log-log plot (docs/growth.png).
"""

from __future__ import annotations

import os
import statistics
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import click

from bench import ROOT
from bench.dashboard import dashboard_ms
from bench.data import exchange, insert_sql, rows
from bench.figures import timed
from bench.serving import served
from bot.exports.files import records, write_records
from bot.store import ConversationLog, Selection, migrate
from bot.store.sqlite import sqlite3

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1000, 3000)
PORT_BASE = 8900  # plus the pid's last two digits; bench/pages.py serves from 8800
BURST = 2000  # exchanges written through the bot's writer at each size
RATED_EVERY = 100  # one reply in a hundred gets a rating
# name -> (label, unit shown in the table)
MEASURES = {
    "stats": "!stats (everything, with costs), ms",
    "history": "!history of the busiest user, ms",
    "dashboard": "dashboard, all chart queries, ms",
    "table": "Datasette table page, ms",
    "search": "Datasette topic search (penguin), ms",
    "export": "full CSV export, ms",
    "export_row": "export per row, µs",
    "burst": f"burst of {BURST:,} writes, ms per 1,000",
}


def main(work: Path, quick: bool, output: Path | None) -> None:
    """The growth run in `work`; the table is printed, and written with the plot unless `quick`."""
    results = run(work, QUICK_SIZES if quick else SIZES)
    text = table(results)
    click.echo(text)
    if not quick:
        plot(results, ROOT / "docs" / "growth.png")
        (output or ROOT / "docs" / "growth.md").write_text(text)


def timed_ms(fn: Callable[[], object], repeat: int) -> float:
    """The median milliseconds of `repeat` calls."""
    return statistics.median(timed(fn, repeat))


def grow(path: Path, stage: int, count: int) -> None:
    """Add `count` generated rows (message ids unique to the stage) and rate 1% of them."""
    prefix = f"s{stage}-"
    data = ((*values[:10], prefix + values[10], *values[11:]) for values in rows(count, seed=100 + stage))
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(insert_sql(), data)
        conn.execute(
            "update conversations set reply_message_id = 'r' || id where message_id like ? and id % ? = 0",
            [prefix + "%", RATED_EVERY],
        )
        conn.execute(
            "insert or ignore into ratings (reply_message_id, rater_id, value, rated_at) "
            "select reply_message_id, 'rater', iif(id % 400 = 0, -1, 1), timestamp from conversations "
            "where message_id like ? and reply_message_id is not null",
            [prefix + "%"],
        )
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()


def web_ms(path: Path) -> tuple[float, float]:
    with served(path, PORT_BASE + os.getpid() % 100) as base:
        return timed_ms(fetcher(base + "/conversations"), 5), timed_ms(
            fetcher(base + "/conversations?_search=penguin"), 5
        )


def fetcher(url: str) -> Callable[[], bytes]:
    return lambda: urllib.request.urlopen(url, timeout=600).read()


def export_ms(path: Path, work: Path) -> float:
    """The CSV export as `python -m bot export` writes it, in this process (no interpreter start-up)."""
    store = ConversationLog(path)

    def export() -> None:
        with open(work / "growth.csv", "wb") as out:
            write_records(records("csv", store, Selection()), out)

    return timed_ms(export, 1)


def burst_ms_per_thousand(path: Path, stage: int) -> float:
    exchanges = [
        exchange((*values[:10], f"burst{stage}-{values[10]}", *values[11:])) for values in rows(BURST, seed=200 + stage)
    ]
    with ConversationLog(path) as store:
        started = time.perf_counter()
        for future in [store.submit(item) for item in exchanges]:
            future.result()
        return (time.perf_counter() - started) * 1000 / (BURST / 1000)


def measure(path: Path, work: Path, stage: int) -> dict[str, float]:
    store = ConversationLog(path)
    busiest = (
        sqlite3.connect(path)
        .execute("select user_id from stats_users order by conversations desc limit 1")
        .fetchone()[0]
    )
    count = sqlite3.connect(path).execute("select count(*) from conversations").fetchone()[0]
    table, search = web_ms(path)
    export = export_ms(path, work)
    figures = {
        "stats": timed_ms(store.stats, 20),
        "history": timed_ms(lambda: store.user_history(busiest), 50),
        "dashboard": dashboard_ms(path, 3),
        "table": table,
        "search": search,
        "export": export,
        "export_row": export * 1000 / count,
    }
    figures["burst"] = burst_ms_per_thousand(path, stage)  # last: it adds rows
    return figures


def run(work: Path, sizes: tuple[int, ...] = SIZES) -> dict[int, dict[str, float]]:
    path = work / "conversation_logs.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    migrate(path)
    results, held = {}, 0
    for stage, size in enumerate(sizes):
        grow(path, stage, size - held)
        held = size
        results[size] = measure(path, work, stage)
        held += BURST
    return results


def table(results: dict[int, dict[str, float]]) -> str:
    sizes = list(results)
    lines = [
        "| Measurement | " + " | ".join(f"{size:,}" for size in sizes) + f" | ratio {sizes[-1]:,} / {sizes[0]:,} |",
        "|---|" + "---:|" * (len(sizes) + 1),
    ]
    for key, label in MEASURES.items():
        values = [results[size][key] for size in sizes]
        lines.append(f"| {label} | " + " | ".join(f"{v:,.2f}" for v in values) + f" | {values[-1] / values[0]:.2f}x |")
    return "\n".join(lines) + "\n"


def plot(results: dict[int, dict[str, float]], output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(results)
    figure, axes = plt.subplots(figsize=(9, 6))
    for key, label in MEASURES.items():
        axes.plot(sizes, [results[size][key] for size in sizes], marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("conversations in the log")
    axes.set_ylabel("time (unit in the legend)")
    axes.set_title("Growth: flat is constant time, slope 1 is linear")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
