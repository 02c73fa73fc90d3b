"""Writing the sample log fast and right: the store's migrations up to the first summary table, the rows
in bulk with no trigger firing, then the remaining migrations, whose own backfills fill every summary
(stats, facets, per-server names, daily usage, ratings) from the rows, as they do for an adopted log.

Row by row, the triggers and the search index cost about 18 s of CPU per 100,000 rows; this way about 8 s
(BENCHMARKS.md, "The sample log").
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from sqlite_utils import Database

from bot.demo.sample import SampleLog, Turn
from bot.store.exchange import FALLBACK_MODEL
from bot.store.migrations import TABLE, migrations
from bot.store.schema import StoreError, connect, enable_wal

FIRST_SUMMARY = "m007_stats_summary"  # every migration before it adds columns or tables, none a trigger
# The columns that exist before FIRST_SUMMARY; the later ones (m011, m017, m023) are set once every migration ran
# (the cache columns' update triggers then count them in the usage summaries).
EARLY_COLUMNS = (
    "user_id", "user_name", "display_name", "guild_id", "channel_id", "user_message", "bot_response", "timestamp",
    "model_used", "input_tokens", "output_tokens", "tokens_used", "latency_ms", "message_id", "conversation_id",
    "reply_message_id",
)  # fmt: skip
LATE_COLUMNS = (
    "attachments", "reply_to_message_id", "cache_creation_input_tokens", "cache_read_input_tokens", "stop_reason"
)  # fmt: skip
USUAL_STOP = "end_turn"  # set on every Claude reply in one statement; the others row by row
CHUNK = 10_000  # rows per executemany: memory stays flat at a million


@dataclass(frozen=True)
class Written:
    rows: int
    ratings: int
    seconds: float


def write(path: Path, count: int, *, seed: int = 1, days: int = 90, end: float | None = None) -> Written:
    """A new migrated log at `path` holding `count` sample exchanges; refuses a file that exists."""
    if path.exists():
        raise StoreError(f"{path} already exists: the demo writes a new file (delete it or choose another path)")
    started = time.perf_counter()
    partial = path.with_name(path.name + ".part")  # never a half-written log under the real name
    partial.unlink(missing_ok=True)
    db = connect(partial)
    try:
        rows, ratings = _fill(db, SampleLog(count, seed=seed, days=days, end=end))
        enable_wal(db)
    finally:
        db.close()
    os.replace(partial, path)
    return Written(rows, ratings, time.perf_counter() - started)


def _fill(db: Database, sample: SampleLog) -> tuple[int, int]:
    db.execute("PRAGMA journal_mode = OFF")  # a new file, renamed into place only once whole
    db.execute("PRAGMA synchronous = OFF")
    db.conn.execute("BEGIN")
    migrations.apply(db, stop_before=FIRST_SUMMARY)
    # The late columns wait in a temporary table, not in memory: a quarter of the rows have one to set.
    db.execute(f"CREATE TEMP TABLE late (message_id TEXT PRIMARY KEY, {', '.join(LATE_COLUMNS)})")
    with search_triggers_off(db):
        rows, ratings = _insert(db, sample.turns())
        migrations.apply(db)
        _set_late_columns(db)
    db.execute(f"INSERT INTO {TABLE}_fts ({TABLE}_fts) VALUES ('rebuild')")
    db.conn.execute("COMMIT")
    return rows, ratings


def _insert(db: Database, turns: Iterator[Turn]) -> tuple[int, int]:
    """Rows, ratings and late columns, CHUNK rows at a time; returns how many rows and ratings."""
    insert = f"INSERT INTO {TABLE} ({', '.join(EARLY_COLUMNS)}) VALUES ({', '.join('?' * len(EARLY_COLUMNS))})"
    insert_late = f"INSERT INTO late VALUES (?, {', '.join('?' * len(LATE_COLUMNS))})"
    insert_rating = "INSERT INTO ratings (reply_message_id, rater_id, value, rated_at) VALUES (?, ?, ?, ?)"
    rows = ratings = 0
    while chunk := list(islice(turns, CHUNK)):
        values, late, rated = [], [], []
        for turn in chunk:
            row = turn.exchange.row() | {"reply_message_id": turn.reply_message_id}
            values.append(tuple(row[column] for column in EARLY_COLUMNS))
            if any(row[c] for c in LATE_COLUMNS[:-1]) or row["stop_reason"] not in (USUAL_STOP, None):
                late.append((row["message_id"], *(row[c] for c in LATE_COLUMNS)))
            rated.extend(turn.ratings)
        db.conn.executemany(insert, values)
        db.conn.executemany(insert_late, late)
        db.conn.executemany(insert_rating, rated)
        rows, ratings = rows + len(values), ratings + len(rated)
    return rows, ratings


def _set_late_columns(db: Database) -> None:
    db.execute(f"UPDATE {TABLE} SET stop_reason = ? WHERE model_used != ?", [USUAL_STOP, FALLBACK_MODEL])
    assignments = ", ".join(f"{column} = late.{column}" for column in LATE_COLUMNS)
    db.execute(f"UPDATE {TABLE} SET {assignments} FROM late WHERE {TABLE}.message_id = late.message_id")
    db.execute("DROP TABLE late")


@contextmanager
def search_triggers_off(db: Database) -> Iterator[None]:
    """The search index's triggers dropped while rows go in, then put back as they were (the caller
    rebuilds the index once, from every row)."""
    saved = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE ?", [f"%{TABLE}_fts%"]
    ).fetchall()
    for name, _ in saved:
        db.execute(f'DROP TRIGGER "{name}"')
    yield
    for name, sql in saved:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?", [name]).fetchone():
            db.execute(sql)  # unless a migration made it anew meanwhile (m020b)
