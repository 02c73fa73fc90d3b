"""The insight dashboard's queries (metadata.yml, datasette-dashboards) timed on a log, as the plugin runs them.

    python -m bench.dashboard LOG.db [--repeat N]

Each chart's SQL is expanded the way the plugin expands it ([[ ... ]] kept only for a filter that is set),
then run on a read-only connection; the figure is the median of N runs, for every chart and in total,
with no date filter (the whole log) and with the last 30 days.
"""

from __future__ import annotations

import statistics
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import click
import yaml
from datasette_dashboards import replace_opts_in_query

from bot.store.queries import METADATA
from bot.store.sqlite import sqlite3

DASHBOARD = "insight"
RECENT_DAYS = 30


def charts(metadata: Path = METADATA) -> dict[str, str]:
    """chart name -> SQL, for every chart with a query."""
    config = yaml.safe_load(metadata.read_text())["plugins"]["datasette-dashboards"][DASHBOARD]["charts"]
    return {name: chart["query"] for name, chart in config.items() if "query" in chart}


def filters_for(conn: sqlite3.Connection, recent: bool) -> dict[str, str]:
    if not recent:
        return {}
    last = conn.execute("select max(day) from usage_daily").fetchone()[0]
    first = conn.execute("select date(?, ?)", [last, f"-{RECENT_DAYS - 1} days"]).fetchone()[0]
    return {"date_start": first, "date_end": last}


def time_charts(path: Path, repeat: int, recent: bool) -> dict[str, float]:
    """chart -> median milliseconds."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    options = filters_for(conn, recent)
    figures = {}
    for name, sql in charts().items():
        query = replace_opts_in_query(sql, options)
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            rows = conn.execute(query, options).fetchall()
            runs.append((time.perf_counter() - started) * 1000)
        assert rows, f"chart {name} returned no rows"
        figures[name] = statistics.median(runs)
    conn.close()
    return figures


def time_http(base: str, repeat: int, options: dict[str, str]) -> dict[str, float]:
    """chart -> median milliseconds of its JSON request to a running Datasette at `base`, as the page sends it."""
    figures = {}
    for name, sql in charts().items():
        url = f"{base}/conversation_logs.json?" + urlencode(
            {"sql": replace_opts_in_query(sql, options), **options, "_shape": "objects"}
        )
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            urllib.request.urlopen(url, timeout=60).read()
            runs.append((time.perf_counter() - started) * 1000)
        figures[name] = statistics.median(runs)
    return figures


def dashboard_ms(path: Path, repeat: int = 3, recent: bool = False) -> float:
    """The whole dashboard: the sum of its charts' medians."""
    return sum(time_charts(path, repeat, recent).values())


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--repeat", default=5, show_default=True)
@click.option(
    "--url", help="Also time each chart's JSON request to this running Datasette (e.g. http://127.0.0.1:8001)."
)
def main(path: Path, repeat: int, url: str | None) -> None:
    whole, recent = time_charts(path, repeat, False), time_charts(path, repeat, True)
    if url:
        http = time_http(url.rstrip("/"), repeat, {})
        click.echo(
            f"over HTTP, whole log: {sum(http.values()):.1f} ms for all charts "
            f"(slowest: {max(http, key=lambda name: http[name])}, {max(http.values()):.1f} ms)"
        )
    click.echo(f"| Chart | whole log (ms) | last {RECENT_DAYS} days (ms) |\n|---|---:|---:|")
    for name in whole:
        click.echo(f"| {name} | {whole[name]:.1f} | {recent[name]:.1f} |")
    click.echo(f"| **all charts** | **{sum(whole.values()):.1f}** | **{sum(recent.values()):.1f}** |")


if __name__ == "__main__":
    main()
