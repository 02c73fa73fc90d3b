"""Datasette's pages on the big log, served as `make web` serves them, fetched over HTTP."""

from __future__ import annotations

import os
import statistics
import urllib.request
from pathlib import Path

from bench.figures import Figure, timed
from bench.serving import served

PORT_BASE = 8800  # plus the pid's last two digits, so two runs on one machine do not collide
PAGE_TARGET_MS = 100
SEARCH_TARGET_MS = 200
STATS_TARGET_MS = 20
CSV_TOLERANCE = 1.05  # the default link may stream within 5% of primary-key order


def fetch_ms(url: str, repeat: int) -> float:
    return statistics.median(timed(lambda: urllib.request.urlopen(url, timeout=600).read(), repeat))


def datasette(path: Path, work: Path) -> list[Figure]:
    with served(path, PORT_BASE + os.getpid() % 100) as base:
        table = fetch_ms(base + "/conversations", 5)
        bare_table = fetch_ms(base + "/conversations?_nofacet=1", 5)
        one_user = fetch_ms(base + "/conversations?user_name=user7", 5)  # a facet link: ~1.5% of rows
        search = fetch_ms(base + "/conversations?_search=4321", 5)  # a message number: one row
        topic = fetch_ms(base + "/conversations?_search=penguin", 5)  # a topic word: about 0.4% of rows
        common = fetch_ms(base + "/conversations?_search=the", 3)  # in every row: the worst case
        stats = fetch_ms(base + "/stats.json", 20)
        pk_order = fetch_ms(base + "/conversations.csv?_stream=on&_size=max&_sort=id", 1)
        default = fetch_ms(base + "/conversations.csv?_stream=on&_size=max", 1)
    return [
        Figure(
            "datasette",
            "table page, with the three default facets",
            table,
            "ms",
            "same page, no facets",
            bare_table,
            f"≤ {PAGE_TARGET_MS} ms",
            table <= PAGE_TARGET_MS,
        ),
        Figure("datasette", "table page filtered to one user by a facet link", one_user, "ms"),
        search_figure("full-text search page, a specific term", search),
        search_figure("full-text search page, a topic word (0.4% of rows)", topic),
        search_figure("full-text search page, the most common word (every row)", common),
        Figure(
            "datasette",
            "stats canned query over HTTP",
            stats,
            "ms",
            target=f"≤ {STATS_TARGET_MS} ms",
            met=stats <= STATS_TARGET_MS,
        ),
        Figure(
            "datasette",
            "streamed full CSV, default link",
            default / 1000,
            "s",
            "primary-key order",
            pk_order / 1000,
            "≤ 1x (within 5%)",
            default <= pk_order * CSV_TOLERANCE,
        ),
    ]


def search_figure(what: str, ms: float) -> Figure:
    return Figure("datasette", what, ms, "ms", target=f"≤ {SEARCH_TARGET_MS} ms", met=ms <= SEARCH_TARGET_MS)
