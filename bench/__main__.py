"""`python -m bench --rows 1000000` measures the bot against raw SQLite in the same run.

Every figure is printed beside its baseline and the ratio, and written to BENCHMARKS.md with the
target it is meant to meet. `--quick` runs everything on small sizes so the code never rots; it
reports, and checks nothing about timing.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from bench import ROOT, growth
from bench.data import build, fresh
from bench.exports import exports
from bench.figures import Figure
from bench.pages import datasette
from bench.rated import rated_reads
from bench.reads import reads, scoped_reads
from bench.report import report
from bench.startup import startup
from bench.writes import wal_bound, write_path

QUICK_ROWS = 5000
# (burst, loop-lag rows, seconds of WAL load): --quick, then the real run
QUICK_SIZES = (2000, 500, 2)
FULL_SIZES = (100_000, 10_000, 60)


@click.command()
@click.option("--rows", "rows_count", default=1_000_000, show_default=True, help="Conversations in the big log.")
@click.option("--quick", is_flag=True, help="Small sizes, for CI: reports, checks no timing.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the Markdown table (default: BENCHMARKS-results.md unless --quick).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the databases go (default: a temporary directory).",
)
@click.option(
    "--growth",
    "grow",
    is_flag=True,
    help="Instead: each operation at 10k, 100k and 1M conversations (bench/growth.py), a table and docs/growth.png.",
)
@click.option(
    "--runtime-python",
    default=sys.executable,
    show_default="this interpreter",
    help="The python of a runtime-only install (make console's venv) to run the exports with: the dev "
    "install's pandas, which sqlite-utils imports when present, is not what a deployment loads (bench/exports.py).",
)
def main(
    rows_count: int,
    quick: bool,
    output: Path | None,
    workdir: Path | None,
    grow: bool = False,
    runtime_python: str = sys.executable,
) -> None:
    """Measure the bot's write path, reads, exports and Datasette against raw SQLite."""
    work = workdir or Path(tempfile.mkdtemp(prefix="bench-growth-" if grow else "bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if grow:
            growth.main(work, quick, output)
        else:
            measure(work, min(rows_count, QUICK_ROWS) if quick else rows_count, quick, output, runtime_python)
    finally:
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def measure(work: Path, rows_count: int, quick: bool, output: Path | None, python: str = sys.executable) -> None:
    burst, lag_rows, wal_seconds = QUICK_SIZES if quick else FULL_SIZES
    big = work / "conversation_logs.db"
    fresh(big, True)
    click.echo(f"building a log of {rows_count:,} conversations…", err=True)
    build_seconds = build(big, rows_count)
    sections: tuple[tuple[str, Callable[[], list[Figure]]], ...] = (
        ("reads", lambda: reads(big)),
        ("scoped reads", lambda: scoped_reads(big)),
        ("startup", lambda: startup(big, work)),
        ("exports", lambda: exports(big, work, python)),
        ("datasette", lambda: datasette(big, work)),
        ("write path", lambda: write_path(work, burst, lag_rows)),
        ("wal", lambda: wal_bound(work, wal_seconds)),
        # Last: it adds ratings to the big log, which the sections above measure without.
        ("rated reads", lambda: rated_reads(big)),
    )
    figures: list[Figure] = []
    for name, section in sections:
        click.echo(f"measuring {name}…", err=True)
        # The gigabytes an earlier section wrote are still being flushed: on 2 cores that
        # showed up as loop lag in the next one (2 ms instead of 0.5).
        os.sync()
        figures += section()
    table = report(figures, rows_count, build_seconds)
    click.echo(table)
    if output or not quick:
        (output or ROOT / "BENCHMARKS-results.md").write_text(table)


if __name__ == "__main__":
    main()
