"""The bot's start on the big log, and the bytes each conversation takes with and without full-text search."""

from __future__ import annotations

import asyncio
import os
import statistics
from pathlib import Path

from bench.figures import Figure, timed
from bot.config.settings import Settings
from bot.core.service import open_service
from bot.store.sqlite import sqlite3

START_TARGET_MS = 1000


def startup(path: Path, work: Path) -> list[Figure]:
    settings = Settings(log_db=path, memory_db=work / "memory.db", anthropic_api_key=None)

    async def start() -> None:
        async with open_service(settings):
            pass

    ms = statistics.median(timed(lambda: asyncio.run(start()), 3))
    size = sum(os.path.getsize(p) for p in [path] if os.path.exists(p))
    count = sqlite3.connect(path).execute("select count(*) from conversations").fetchone()[0]
    without = without_fts(path, work / "no_fts.db")
    return [
        Figure(
            "startup",
            "bot start (migrations check, opt-outs, memory)",
            ms,
            "ms",
            target=f"≤ {START_TARGET_MS} ms",
            met=ms <= START_TARGET_MS,
        ),
        Figure("size", "bytes per conversation, with FTS", size / count, "B"),
        Figure("size", "bytes per conversation, without FTS", without.stat().st_size / count, "B"),
    ]


def without_fts(path: Path, copy: Path) -> Path:
    """A vacuumed copy of the log with its full-text index dropped."""
    copy.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("vacuum into ?", [str(copy)])
    conn.close()
    conn = sqlite3.connect(copy)
    conn.execute("drop table conversations_fts")
    conn.execute("vacuum")
    conn.close()
    return copy
