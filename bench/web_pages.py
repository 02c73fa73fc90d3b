"""The reading pages of issue 24 on a big log, served read-only as the Procfile serves it: the conversations as
cards, a conversation, a row, rated_replies, each against Datasette's own page or the plain SQL it runs, in the
same run; where the first exchange sits at 1400×900; and the screenshots of docs/.

    python -m bench.web_pages /work/scratch/log-1m.db --shots docs
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import click
import yaml
from playwright.async_api import ViewportSize, async_playwright

from bench.figures import Figure, timed
from bench.serving import ROOT, served

PAGE_TARGET_MS = 100
REPEAT = 9  # medians of 9, after one warm-up round
PORT = 8870
SCREEN: ViewportSize = {"width": 1400, "height": 900}
QUERIES = yaml.safe_load((ROOT / "metadata.yml").read_text())["databases"]["conversation_logs"]["queries"]
PAGE_ROWS = 21  # the page of 20 cards (plugins/card_page.py), and one more to know there is a next page


@contextmanager
def served_read_only(path: Path, port: int) -> Iterator[str]:
    """`path` served by the Procfile's arguments (Datasette opens a file read-only), as conversation_logs: the
    start-up check wants that name, so a symlink gives it; nothing of the big log is written."""
    with tempfile.TemporaryDirectory(prefix="web-pages-") as folder:
        link = Path(folder) / "conversation_logs.db"
        link.symlink_to(path.resolve())
        with served(link, port) as db:
            yield db.removesuffix("/conversation_logs")


def fetch(url: str) -> None:
    urllib.request.urlopen(url, timeout=600).read()


def fetch_interleaved(pages: dict[str, str]) -> dict[str, float]:
    """The median ms of each page, fetched in turn REPEAT times after a warm-up round: on a shared machine a
    burst of load then falls on every page alike, not on whichever was being measured."""
    times: dict[str, list[float]] = {name: [] for name in pages}
    for round_ in range(REPEAT + 1):
        for name, url in pages.items():
            [ms] = timed(partial(fetch, url), 1)
            if round_:
                times[name].append(ms)
    return {name: statistics.median(values) for name, values in times.items()}


def sql_ms(path: Path, sql: str, params: dict[str, str] | tuple[int, ...] = ()) -> float:
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        conn.execute(sql, params).fetchall()
        return statistics.median(timed(lambda: conn.execute(sql, params).fetchall(), REPEAT))
    finally:
        conn.close()


def busiest(path: Path) -> tuple[int, str]:
    """The newest row and the conversation with the most turns among the last 1,000 rows (what a card links)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        newest = conn.execute("select max(id) from conversations").fetchone()[0]
        [conversation] = conn.execute(
            "select conversation_id from (select conversation_id from conversations order by id desc limit 1000) "
            "group by conversation_id order by count(*) desc limit 1"
        ).fetchone()
        return newest, conversation
    finally:
        conn.close()


def figures(path: Path, base: str) -> list[Figure]:
    newest, conversation = busiest(path)
    db = base + "/conversation_logs"
    pages = {
        "conversations": db + "/conversations",
        "columns": db + "/conversations?_view=columns",
        "hundred": db + "/conversations?_size=100",
        "hundred columns": db + "/conversations?_view=columns&_size=100",
        "conversation": db + "/conversation?" + urlencode({"conversation_id": conversation}),
        "row": db + f"/conversations/{newest}",
        "rated": db + "/rated_replies",
    }
    took = fetch_interleaved(pages)
    plain = {
        "conversations": sql_ms(path, "select * from conversations order by id desc limit ?", (PAGE_ROWS,)),
        "conversation": sql_ms(path, QUERIES["conversation"]["sql"], {"conversation_id": conversation}),
        "row": sql_ms(path, "select * from conversations where id = ?", (newest,)),
        "rated": sql_ms(path, QUERIES["rated_replies"]["sql"], {"page": ""}),
    }
    cards = "conversations, 20 cards (facets, count)"
    hundred = "conversations, 100 cards (?_size=100)"
    return [
        page_figure(cards, took["conversations"], "its columns view (Datasette's table)", took["columns"]),
        page_figure(cards, took["conversations"], "plain SQL of its 21 rows", plain["conversations"]),
        page_figure(hundred, took["hundred"], "its columns view", took["hundred columns"]),
        page_figure(f"a conversation page ({conversation})", took["conversation"], "plain SQL", plain["conversation"]),
        page_figure("a row page (card and columns)", took["row"], "plain SQL of the row", plain["row"]),
        page_figure("rated_replies, page 1", took["rated"], "plain SQL of the query", plain["rated"]),
    ]


def page_figure(what: str, ms: float, baseline: str, baseline_ms: float) -> Figure:
    return Figure("web pages", what, ms, "ms", baseline, baseline_ms, f"≤ {PAGE_TARGET_MS} ms", ms <= PAGE_TARGET_MS)


SHOT_SEARCH = "penguin"  # a rare word of the generator's (bench/web_search.py): a page of ranked, marked hits


async def in_chromium(base: str, conversation: str, shots: Path | None) -> float:
    """The bottom of the first card's message at 1400×900 (px from the top), and the screenshots."""
    db = base + "/conversation_logs"
    async with async_playwright() as playwright:
        from tests.support.browser import CHROMIUM, FLAGS

        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport=SCREEN)
        await page.goto(db + "/conversations")
        box = await page.locator("article.exchange").first.locator(".message").bounding_box()
        if box is None:
            raise click.ClickException("the conversations page shows no card")
        if shots is not None:
            await page.screenshot(path=shots / "web-table-1m.png")
            await page.goto(db + "/conversation?" + urlencode({"conversation_id": conversation}))
            await page.screenshot(path=shots / "web-conversation-1m.png")
            await page.goto(db + "/costs?guild=&user=")
            await page.screenshot(path=shots / "web-query-1m.png")
            await page.goto(db + "/search?" + urlencode({"q": SHOT_SEARCH}))
            await page.screenshot(path=shots / "web-search-1m.png")
        await browser.close()
    return box["y"] + box["height"]


@click.command()
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--shots", type=click.Path(file_okay=False, path_type=Path), help="Write the screenshots here.")
def main(db: Path, shots: Path | None) -> None:
    with served_read_only(db, PORT) as base:
        measured = figures(db, base)
        _, conversation = busiest(db)
        bottom = asyncio.run(in_chromium(base, conversation, shots))
    for figure in measured:
        click.echo(figure.row())
    seen = "visible" if bottom <= SCREEN["height"] else "NOT visible"
    click.echo(f"first exchange's message ends {bottom:.0f} px down at 1400×900: {seen}")


if __name__ == "__main__":
    main()
