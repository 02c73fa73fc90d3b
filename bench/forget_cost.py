"""`python -m bench.forget_cost --rows 1000000`: what the search-index clean-up after a !forget costs.

Both clean-ups, each on its own copy of one generated log, in one run: FTS5 secure-delete (the delete
removes the words itself; pysqlite3's SQLite) and, forced, FTS5 'optimize' (SQLite 3.40's only way).
With 'optimize', a `!forget` answers once its delete is committed; the clean-up (bot/store/log.py)
then runs as the writer thread's next job, before any row handed over later. This measures the answer
(the delete alone, which with 'optimize' is a forget without the clean-up: the baseline), when the
clean-up is done, the index it rewrites, and how long a row handed over right after the answer waits,
against a row logged with nothing queued (the baseline write).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click

from bench.data import build
from bot.store import ConversationLog, Exchange
from bot.store.sqlite import sqlite3

FORGETS = 3  # users forgotten one after another: each rewrites the whole index again
ROW_SAMPLES = 20  # rows logged with nothing queued: the baseline write


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _row(n: int) -> Exchange:
    return Exchange(
        user_id="bench",
        user_name="bench",
        channel_id="900",
        user_message=f"after the forget {n}",
        bot_response="ok",
        model_used="claude-haiku-4-5",
        message_id=f"bench-{n}",
    )


def _users(path: Path, count: int) -> list[tuple[str, int]]:
    """Users with the median number of rows (most users have few; the median one is typical)."""
    with sqlite3.connect(path) as db:
        counts: list[tuple[str, int]] = db.execute(
            "select user_id, count(*) from conversations group by user_id order by 2"
        ).fetchall()
    middle = len(counts) // 2
    return counts[middle : middle + count]


def _index_mb(path: Path) -> float:
    with sqlite3.connect(path) as db:
        size: int = db.execute("select coalesce(sum(length(block)), 0) from conversations_fts_data").fetchone()[0]
    return size / 1e6


class Rows:
    """Rows logged one after another, each timed from hand-over to durable."""

    def __init__(self, store: ConversationLog):
        self.store, self.count = store, 0

    def log_one(self) -> float:
        self.count += 1
        started = time.perf_counter()
        self.store.submit(_row(self.count)).result()
        return _ms(started)


def forget(store: ConversationLog, rows: Rows, user: str) -> dict[str, float]:
    started = time.perf_counter()
    store.forget(user).result()
    answer = _ms(started)
    row = rows.log_one()  # the next message, handed over as the answer goes out: it waits for the clean-up
    while store.cleaning_index:
        time.sleep(0.001)
    return {"answer_ms": answer, "clean_ms": _ms(started), "row_ms": row}


def measure(path: Path, secure_delete: bool, echo: Callable[[str], object]) -> None:
    users = _users(path, FORGETS)
    store = ConversationLog(path, fts_secure_delete=secure_delete).open()
    echo(f"clean-up: {store.forget_clean_up}")
    try:
        rows = Rows(store)
        plain = statistics.median(rows.log_one() for _ in range(ROW_SAMPLES))
        echo(f"a row logged with nothing queued (baseline): {plain:.2f} ms median of {ROW_SAMPLES}")
        for number, (user, count) in enumerate(users):
            index = _index_mb(path)
            got = forget(store, rows, user)
            echo(
                f"forget {number + 1} ({count} rows, index {index:,.0f} MB): answer {got['answer_ms']:,.1f} ms "
                f"(the delete alone); clean-up done at {got['clean_ms']:,.0f} ms = "
                f"{got['clean_ms'] / got['answer_ms']:,.0f}x the answer; the next row, handed over at the answer, "
                f"waited {got['row_ms']:,.0f} ms = {got['row_ms'] / plain:,.0f}x the baseline write"
            )
    finally:
        store.close()


@click.command()
@click.option("--rows", default=1_000_000, show_default=True, help="Generated conversations in the log")
@click.option("--keep", type=click.Path(path_type=Path), help="Generate the log here once, and reuse it after")
def main(rows: int, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "conversation_logs.db"
        if keep is not None and keep.exists():
            shutil.copy(keep, path)
        else:
            seconds = build(path, rows)
            click.echo(f"{rows:,} generated rows in {seconds:.0f} s")
            if keep is not None:
                shutil.copy(path, keep)
        click.echo(f"file {path.stat().st_size / 1e6:,.0f} MB, search index {_index_mb(path):,.0f} MB")
        for secure_delete in (True, False):
            copy = path.with_name(f"secure-delete-{secure_delete}.db")
            shutil.copy(path, copy)
            measure(copy, secure_delete, click.echo)
            copy.unlink()


if __name__ == "__main__":
    main()
