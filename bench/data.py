"""Realistic generated conversations: ~200-char messages, ~600-char replies, 5k users, 4 models, a year,
words drawn by Zipf's law from a 20,000-word vocabulary (bot/demo/words.py, shared with `python -m bot demo`)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.demo.words import pool
from bot.store import Exchange, migrate
from bot.store.sqlite import sqlite3

MODELS = [
    "claude-haiku-4-5",
    "claude-haiku-4-5",
    "claude-haiku-4-5",
    "claude-sonnet-4-5",
    "claude-opus-4-1",
    "static_fallback",
]
COLUMNS = (
    "user_id",
    "user_name",
    "channel_id",
    "user_message",
    "bot_response",
    "timestamp",
    "tokens_used",
    "model_used",
    "guild_id",
    "display_name",
    "message_id",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "conversation_id",
)
YEAR = 365 * 24 * 3600


def rows(count: int, seed: int = 7, end: float | None = None) -> Iterator[tuple[Any, ...]]:
    """`count` exchanges in time order over the year before `end`, as tuples in COLUMNS order."""
    rng = random.Random(seed)
    messages, replies = pool(rng, 4000, 190), pool(rng, 4000, 590)
    end = end or time.time()
    step = YEAR / max(count, 1)
    for n in range(count):
        user = int(rng.paretovariate(1.2)) % 5000
        model = MODELS[n % len(MODELS)]
        tokens_in, tokens_out = (0, 0) if model == "static_fallback" else (60 + n % 90, 150 + n % 200)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(end - YEAR + n * step))
        yield (
            str(100000 + user),
            f"user{user}",
            str(900 + user % 20),
            f"{messages[n % 4000]} #{n}",
            replies[(n * 7) % 4000],
            stamp,
            tokens_in + tokens_out,
            model,
            "800",
            f"User {user}",
            f"m{n}",
            tokens_in,
            tokens_out,
            400 + n % 900,
            f"c{user}-{n // 6}",
        )


def exchange(values: tuple[Any, ...]) -> Exchange:
    """A generated row as the bot hands it to the log (the log counts tokens_used itself)."""
    row = dict(zip(COLUMNS, values, strict=True))
    row.pop("tokens_used")
    return Exchange(**row)


def fresh(path: Path, fts: bool) -> None:
    """An empty migrated log at `path`, with nothing left of an earlier run (WAL, spools)."""
    for suffix in ("", "-wal", "-shm", ".spool.jsonl", ".spool.jsonl.reserve"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    build(path, 0, fts=fts)


def insert_sql(table: str = "conversations") -> str:
    return f"insert into {table} ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})"


def build(path: Path, count: int, *, fts: bool = True) -> float:
    """A migrated log holding `count` generated rows; returns the seconds the insert took."""
    migrate(path)
    conn = sqlite3.connect(path)
    if not fts:
        drop_fts_triggers(conn)
    started = time.perf_counter()
    with conn:
        conn.executemany(insert_sql(), rows(count))
    elapsed = time.perf_counter() - started
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    return elapsed


def drop_fts_triggers(conn: sqlite3.Connection) -> None:
    names = [
        r[0]
        for r in conn.execute(
            "select name from sqlite_master where type = 'trigger' and sql like '%conversations_fts%'"
        )
    ]
    for name in names:
        conn.execute(f"drop trigger {name}")
