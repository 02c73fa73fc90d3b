"""The Markdown table BENCHMARKS.md takes its figures from: one row per figure, under the run's setting."""

from __future__ import annotations

import os
import sys
import time

from bench.figures import Figure
from bot.store.sqlite import sqlite3


def report(figures: list[Figure], rows_count: int, build_seconds: float) -> str:
    lines = [
        "| Area | Measurement | Ours | Baseline (same run) | Ratio | Target | |",
        "|---|---|---|---|---|---|---|",
        *[figure.row() for figure in figures],
    ]
    header = (
        f"Log of {rows_count:,} generated conversations (built in {build_seconds:.1f} s), "
        f"{os.cpu_count()} cores, SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}."
    )
    return header + "\n\n" + "\n".join(lines) + "\n"
