"""Upgrading a million-row log of the original bot: the migration, then the background fill of each row's
server (bot/core/adoption.py) with the loop's lag and an answer's commit wait beside a baseline without it.

    .venv/bin/python -m bench.adoption --source /work/scratch/log-1m.db --work /work/scratch/adopt

The original bot logged no server: the rows are copied into its table (the spec's nine columns), with
their channels spread over SERVERS servers and a DM channel for every DM_EVERY-th user, then migrated
and placed. Afterwards a server's !stats (Reads.stats, what the command reads) must count its rows.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable
from pathlib import Path

import click

from bench.data import rows
from bench.figures import Figure, p99
from bench.loop_lag import LagProbe
from bot.core.adoption import BATCH_ROWS, Adoption
from bot.store import ConversationLog, Exchange, connect, migrations
from bot.store.adoption import Place
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3

SERVERS = 20
CHANNELS_PER_SERVER = 5
DM_EVERY = 25  # every 25th user id talked to the original bot in a DM too
ANSWER_EVERY_S = 0.05  # an answer logged every 50 ms while the fill runs: what a busy bot adds
BASELINE_S = 30.0  # how long the same answers are logged with no fill (5 s gave a p99 of one outlier)
ORIGINAL_TABLE = """CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,
    user_name TEXT, channel_id TEXT, user_message TEXT, bot_response TEXT,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, tokens_used INTEGER DEFAULT 0, model_used TEXT)"""
ORIGINAL_COLUMNS = "user_id, user_name, channel_id, user_message, bot_response, timestamp, tokens_used, model_used"
# The generator's channel (900-919) and message number pick one of 100 channels; some users' rows are DMs.
CHANNEL = f"""iif(cast(user_id as integer) % {DM_EVERY} = 0, 'dm' || user_id,
                 cast(channel_id as integer) * {CHANNELS_PER_SERVER} + id % {CHANNELS_PER_SERVER})"""


def original_log(path: Path, source: Path | None, count: int) -> None:
    """The original bot's log at `path`: a copy of `source`'s rows, or `count` generated ones."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(ORIGINAL_TABLE)
    if source is not None:
        conn.execute("ATTACH ? AS source", [f"file:{source}?mode=ro"])
        select = f"SELECT id, {ORIGINAL_COLUMNS} FROM source.conversations LIMIT ?"  # channels respread below
        conn.execute(f"INSERT INTO conversations (id, {ORIGINAL_COLUMNS}) {select}", [count])
    else:
        conn.executemany(
            f"INSERT INTO conversations ({ORIGINAL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
            (values[:8] for values in rows(count)),
        )
    conn.execute(f"UPDATE conversations SET channel_id = {CHANNEL}")
    conn.commit()
    conn.close()


def places(path: Path) -> list[Place]:
    """Every channel's place: DM channels, and the rest spread over SERVERS servers."""
    conn = sqlite3.connect(path)
    channels = [c for (c,) in conn.execute("select distinct channel_id from conversations")]
    conn.close()
    return [
        Place(c, None) if c.startswith("dm") else Place(c, str(8000 + int(c) // CHANNELS_PER_SERVER % SERVERS))
        for c in channels
    ]


class Answers:
    """Logs an answer every ANSWER_EVERY_S and keeps how long each waited for its commit (ms)."""

    def __init__(self, store: ConversationLog) -> None:
        self.store = store
        self.waits: list[float] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            handed = time.perf_counter()
            exchange = Exchange("42", "asker", "1", f"q{n}", "a", "claude-haiku-4-5", f"bench-{time.time_ns()}")
            await asyncio.wrap_future(self.store.submit(exchange))
            self.waits.append((time.perf_counter() - handed) * 1000)
            await asyncio.sleep(ANSWER_EVERY_S)


async def measured(store: ConversationLog, work: Awaitable[object]) -> tuple[float, list[float], list[float]]:
    """Seconds `work` took, the loop's lags and the answers' commit waits (ms) meanwhile."""
    probe, answers = LagProbe(asyncio.get_running_loop()), Answers(store)
    answering = asyncio.create_task(answers.run())
    started = time.perf_counter()

    async def then_stop() -> None:
        await work
        answers.stop.set()

    await probe.during(then_stop())
    await answering
    return time.perf_counter() - started, probe.lags, answers.waits


async def fill(path: Path, where: list[Place], baseline_s: float, batch_rows: int) -> list[Figure]:
    with ConversationLog(path) as store:
        _, idle_lags, idle_waits = await measured(store, asyncio.sleep(baseline_s))
        adoption = Adoption(store, batch_rows)
        seconds, lags, waits = await measured(store, adoption.place(where))
        unplaced = store.query("select count(*) as n from unplaced_rows")[0]["n"]
    return [
        Figure("adoption", f"fill: {adoption.placed:,} rows placed ({SERVERS} servers and DMs), total", seconds, "s"),
        Figure("adoption", "fill: rows placed per second", adoption.placed / seconds, "rows/s"),
        Figure("adoption", "p99 event-loop lag during the fill", p99(lags), "ms", "no fill", p99(idle_lags)),
        Figure(
            "adoption",
            f"p99 commit wait of an answer logged every {ANSWER_EVERY_S * 1000:g} ms during the fill",
            p99(waits),
            "ms",
            "no fill",
            p99(idle_waits),
        ),
        Figure(
            "adoption",
            "median commit wait of those answers",
            statistics.median(waits),
            "ms",
            "no fill",
            statistics.median(idle_waits),
        ),
        Figure("adoption", "rows left unplaced", unplaced, "rows"),
    ]


def server_stats_check(path: Path) -> Figure:
    """Each server's !stats counts its adopted rows (Reads.stats, what the command reads), beside a count of
    its rows; the figure is the slowest of the servers' !stats."""
    with ConversationLog(path) as store:
        counted = {
            r["guild_id"]: r["n"]
            for r in store.query(
                "select guild_id, count(*) as n from conversations where guild_id is not null group by guild_id"
            )
        }
        slowest = 0.0
        for server, rows_there in counted.items():
            started = time.perf_counter()
            shown = store.stats(Scope.server(server))["total_conversations"]
            slowest = max(slowest, (time.perf_counter() - started) * 1000)
            assert shown == rows_there, (server, shown, rows_there)
    assert len(counted) == SERVERS
    fewest, most = min(counted.values()), max(counted.values())
    return Figure(
        "adoption",
        f"!stats in each of the {SERVERS} servers afterwards counts its adopted rows ({fewest:,} to {most:,}), slowest",
        slowest,
        "ms",
    )


def migrate_in_two(path: Path) -> tuple[float, float]:
    """Seconds of the migrations an upgrade ran before this change, then of this change's (m020, m020b)."""
    started = time.perf_counter()
    db = connect(path)
    migrations.apply(db, stop_before="m020_unplaced_rows")
    db.close()
    earlier = time.perf_counter() - started
    started = time.perf_counter()
    ConversationLog(path).open().close()
    return earlier, time.perf_counter() - started


def adoption(
    path: Path, source: Path | None, count: int, baseline_s: float = BASELINE_S, batch_rows: int = BATCH_ROWS
) -> list[Figure]:
    started = time.perf_counter()
    original_log(path, source, count)
    copied = time.perf_counter() - started
    where = places(path)
    earlier, adopting = migrate_in_two(path)
    figures = asyncio.run(fill(path, where, baseline_s, batch_rows))
    return [
        Figure("adoption", f"copy {count:,} rows into the original bot's table (set-up)", copied, "s"),
        Figure("adoption", "first start: migrations m001-m019 of the original log (before this change)", earlier, "s"),
        Figure(
            "adoption", "first start: m020 (list the unplaced rows) and m020b, blocking start-up once", adopting, "s"
        ),
        *figures,
        server_stats_check(path),
    ]


@click.command()
@click.option("--rows", "count", default=1_000_000, show_default=True, help="Rows of the original log.")
@click.option(
    "--source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A generated log (bench/data.py) to copy the rows from; default: generate them.",
)
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the original log is written (and left, for a look).",
)
@click.option("--batch-rows", default=BATCH_ROWS, show_default=True, help="Rows per writer job of the fill.")
def main(count: int, source: Path | None, work: Path, batch_rows: int) -> None:
    """Adopt an original bot's log of --rows rows and print the figures as BENCHMARKS.md rows."""
    work.mkdir(parents=True, exist_ok=True)
    for figure in adoption(work / "original.db", source, count, batch_rows=batch_rows):
        print(figure.row(), flush=True)


if __name__ == "__main__":
    main()
