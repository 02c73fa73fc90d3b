"""Issue 24: the search page (plugins/search.py), the export link (plugins/export_link.py), the canned queries
on summaries (metadata.yml, m024_daily_totals), through Datasette's ASGI client and, at the end, Chromium."""

from __future__ import annotations

import csv
import datetime
import io
import re
from urllib.parse import unquote

import pytest

from bot.store import migrate
from bot.store.sqlite import sqlite3
from tests.support.web import datasette_for

ROWS = 1_200  # more than max_returned_rows (1,000): a download cut at one page would show
HOSTILE = "<script>alert(1)</script> penguin <b>bold</b>"
SEARCH = "/conversation_logs/search"


def text_of(n: int) -> str:
    """Row n's message: penguin n % 7 times among n % 11 fillers, so the bm25 scores differ."""
    return " ".join(["penguin"] * (n % 7) + ["filler"] * (n % 11) + [f"w{n}"])


def insert(conn, n: int, **values) -> None:
    row = {
        "user_id": str(100 + n % 3),
        "user_name": ["alice", "bob", "carol"][n % 3],
        "display_name": ["Alice", "Bob", "Carol"][n % 3],
        "channel_id": "c1",
        "guild_id": "g1" if n % 2 else "g2",
        "user_message": HOSTILE if n == 7 else text_of(n),
        "bot_response": f"reply {n} about the weather",
        "timestamp": f"2026-0{1 + n % 9}-{10 + n % 18} 12:00:00",
        "tokens_used": n,
        "model_used": "claude-haiku-4-5",
        "message_id": f"m{n}",
        "input_tokens": n // 2,
        "output_tokens": n - n // 2,
        "conversation_id": f"c{n // 4}",
    } | values
    columns = ", ".join(row)
    conn.execute(f"insert into conversations ({columns}) values ({', '.join('?' * len(row))})", list(row.values()))


@pytest.fixture
def search_log(tmp_path):
    path = tmp_path / "conversation_logs.db"
    migrate(path)
    with sqlite3.connect(path) as conn:
        for n in range(ROWS):
            insert(conn, n)
    return path


@pytest.fixture
async def ds(search_log):
    datasette = datasette_for(search_log)
    await datasette.invoke_startup()
    return datasette


def plain(path, sql: str, params=()) -> list:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


def hit_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="search-hit" data-id="(\d+)"', html)]


def ranked_ids(path, where: str = "", params=()) -> list[int]:
    sql = f"""select f.rowid from conversations_fts f join conversations c on c.id = f.rowid
              where conversations_fts match '"penguin"' {where} order by rank, f.rowid desc"""
    return [row[0] for row in plain(path, sql, params)]


async def test_search_lists_matches_in_rank_order_page_by_page(ds, search_log):
    expected = ranked_ids(search_log)
    pages, page = [], 1
    while True:
        html = (await ds.client.get(f"{SEARCH}?q=penguin&page={page}")).text
        pages += hit_ids(html)
        if 'rel="next"' not in html:
            break
        page += 1
    assert len(expected) > 1_000 and pages == expected
    first = (await ds.client.get(f"{SEARCH}?q=penguin")).text
    assert "<mark>penguin</mark>" in first and f'<span class="match-count">{len(expected):,}</span>' in first


async def test_what_a_user_wrote_stays_text_and_only_the_marks_are_markup(ds):
    html = (await ds.client.get(f"{SEARCH}?q=bold")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; penguin &lt;b&gt;<mark>bold</mark>&lt;/b&gt;" in html
    assert "<script>alert(1)" not in html and "<b>bold" not in html


@pytest.mark.parametrize(
    ("args", "where", "params"),
    [
        ("user=BOB", "and c.user_id = ?", ("101",)),
        ("user=102", "and c.user_id = ?", ("102",)),
        ("guild=g2", "and c.guild_id = ?", ("g2",)),
        ("since=2026-03-01&until=2026-04-30", "and c.timestamp >= ? and c.timestamp < ?", ("2026-03-01", "2026-05-01")),
        (
            "user=alice&guild=g1&since=2026-05-01",
            "and c.user_id = '100' and c.guild_id = 'g1' and c.timestamp >= ?",
            ("2026-05-01",),
        ),
        ("user=nobody", "and 0", ()),
    ],
)
async def test_the_form_fields_narrow_the_matches_as_sql_would(ds, search_log, args, where, params):
    expected = ranked_ids(search_log, where, params)
    html = (await ds.client.get(f"{SEARCH}?q=penguin&{args}")).text
    assert hit_ids(html) == expected[:20]
    assert f'<span class="match-count">{len(expected):,}</span>' in html


async def test_a_server_holding_every_row_finds_what_no_server_field_finds(ds, search_log):
    with sqlite3.connect(search_log) as conn:
        conn.execute("update conversations set guild_id = 'g1'")  # a bot in one server: the field narrows nothing
    everything = (await ds.client.get(f"{SEARCH}?q=penguin")).text
    one_server = (await ds.client.get(f"{SEARCH}?q=penguin&guild=g1")).text
    assert hit_ids(one_server) == hit_ids(everything) == ranked_ids(search_log)[:20]
    assert hit_ids((await ds.client.get(f"{SEARCH}?q=penguin&guild=g2")).text) == []


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ("since=2026-13-01", "since: expected a day like 2026-11-29, got &#39;2026-13-01&#39;"),
        ("until=yesterday", "until: expected a day like 2026-11-29, got &#39;yesterday&#39;"),
        ("page=0", "page: expected a whole number from 1 to 500, got &#39;0&#39;"),
        ("q=%22%22", "q: expected a word to search for, got &#39;&#34;&#34;&#39;"),
    ],
)
async def test_a_wrong_field_gets_one_line_naming_it(ds, args, problem):
    response = await ds.client.get(f"{SEARCH}?q=penguin&{args}" if "q=" not in args else f"{SEARCH}?{args}")
    assert response.status_code == 400 and f'<p class="message-error">{problem}</p>' in response.text
    assert 'value="penguin"' in response.text or "q=" in args  # the words typed are kept


def export_link(html: str) -> str:
    return re.search(r'class="export-link" href="([^"]+)"', html)[1].replace("&amp;", "&")


async def download(ds, url: str) -> tuple[list[dict], str]:
    response = await ds.client.get(url)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.text))), response.headers["content-disposition"]


async def test_the_search_pages_export_link_downloads_every_match(ds, search_log):
    html = (await ds.client.get(f"{SEARCH}?q=penguin&guild=g1")).text
    rows, disposition = await download(ds, export_link(html))
    expected = ranked_ids(search_log, "and c.guild_id = 'g1'")
    assert sorted(int(row["id"]) for row in rows) == sorted(expected) and len(rows) > 500
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    assert disposition == f'attachment; filename="conversations-{today}.csv"'


async def test_the_tables_export_link_downloads_every_filtered_row_not_one_page(ds, search_log):
    html = (await ds.client.get("/conversation_logs/conversations?model_used=claude-haiku-4-5&_size=10")).text
    url = export_link(html)
    assert "Download all 1,200 rows" in re.sub(r"\s+", " ", html)
    assert "_stream=on" in url and "_size=10" not in unquote(url)
    rows, disposition = await download(ds, url)
    assert len(rows) == ROWS and disposition.startswith('attachment; filename="conversations-20')
    filtered, _ = await download(
        ds, export_link((await ds.client.get("/conversation_logs/conversations?user_name=bob")).text)
    )
    assert len(filtered) == len(plain(search_log, "select 1 from conversations where user_name = 'bob'")) == 400


def daily_plain(path) -> list[tuple]:
    return plain(
        path,
        """select date(timestamp), count(*), count(distinct user_id), coalesce(sum(tokens_used), 0)
           from conversations group by 1 order by 1 desc""",
    )


async def test_daily_totals_agree_with_the_rows_through_inserts_deletes_and_updates(ds, search_log):
    with sqlite3.connect(search_log) as conn:
        insert(conn, ROWS, input_tokens=None, output_tokens=None, tokens_used=77)  # a row from before m002
        conn.execute("delete from conversations where id % 5 = 0")
        conn.execute("update conversations set timestamp = '2025-12-31 23:59:59' where id % 7 = 0")
        conn.execute("update conversations set tokens_used = tokens_used + 3 where id % 11 = 0")
        conn.execute("delete from conversations where timestamp like '2026-09-%'")  # a whole day goes
    table = plain(search_log, "select day, conversations, tokens from daily_totals order by day desc")
    assert table == [(day, count, tokens) for day, count, _, tokens in daily_plain(search_log)]
    web = (await ds.client.get("/conversation_logs/daily_activity.json?_shape=array")).json()
    assert [tuple(row.values()) for row in web] == daily_plain(search_log)


async def test_top_users_reads_the_summaries_and_agrees_with_the_rows(ds, search_log):
    expected = plain(
        search_log,
        """select user_id, count(*), sum(tokens_used), max(timestamp) from conversations group by user_id
           order by count(*) desc, user_id""",
    )
    web = (await ds.client.get("/conversation_logs/top_users.json?_shape=array")).json()
    assert [(u["user_id"], u["conversations"], u["tokens"], u["last_seen"]) for u in web] == expected
    assert [u["user_name"] for u in web] == ["alice", "bob", "carol"]


async def test_rated_replies_come_in_pages_of_fifty(ds, search_log):
    with sqlite3.connect(search_log) as conn:
        for n in range(60):
            conn.execute("update conversations set reply_message_id = ? where message_id = ?", (f"r{n}", f"m{n}"))
            conn.execute(
                "insert into ratings (reply_message_id, rater_id, value, rated_at) values (?, 'x', ?, 0)",
                (f"r{n}", 1 if n % 3 else -1),
            )
            if n % 2:
                conn.execute(
                    "insert into ratings (reply_message_id, rater_id, value, rated_at) values (?, 'y', 1, 0)",
                    (f"r{n}",),
                )
    first = (await ds.client.get("/conversation_logs/rated_replies.json?_shape=array")).json()
    second = (await ds.client.get("/conversation_logs/rated_replies.json?_shape=array&page=2")).json()
    expected = plain(
        search_log,
        """select c.id, sum(r.value > 0), sum(r.value < 0), sum(r.value) from ratings r
           join conversations c on c.reply_message_id = r.reply_message_id
           group by r.reply_message_id
           order by sum(r.value) desc, length(r.reply_message_id) desc, r.reply_message_id desc""",
    )
    assert len(first) == 50 and len(second) == 10
    assert [(r["id"], r["thumbs_up"], r["thumbs_down"], r["score"]) for r in first + second] == expected


@pytest.mark.slow
async def test_in_chromium_a_search_shows_marked_matches_in_rank_order_and_its_link_downloads_them_all(
    search_log, tmp_path
):
    from playwright.async_api import async_playwright

    from tests.support.browser import CHROMIUM, FLAGS
    from tests.support.processes import start_datasette, stop

    expected = ranked_ids(search_log)
    process, base = await start_datasette(search_log)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page(accept_downloads=True)
            await page.goto(f"{base}{SEARCH}")
            await page.fill("input[name=q]", "penguin")
            await page.click("input[type=submit]")
            await page.wait_for_selector(".search-hit")
            shown = [
                int(i) for i in await page.locator(".search-hit").evaluate_all("hits => hits.map(h => h.dataset.id)")
            ]
            assert shown == expected[:20]
            marks = await page.locator(".search-hit mark").all_text_contents()
            assert marks and set(marks) == {"penguin"}
            assert await page.locator(".match-count").text_content() == f"{len(expected):,}"
            downloads = [await save(page, page.locator(".search-summary .export-link"), tmp_path / "search.csv")]
            await page.goto(f"{base}/conversation_logs/conversations?user_name=bob")
            downloads.append(await save(page, page.locator(".export-all .export-link"), tmp_path / "table.csv"))
            await browser.close()
    finally:
        await stop(process)
    [(search_name, search_rows), (table_name, table_rows)] = downloads
    assert sorted(int(row["id"]) for row in search_rows) == sorted(expected)
    assert len(table_rows) == len(plain(search_log, "select 1 from conversations where user_name = 'bob'"))
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    assert search_name == table_name == f"conversations-{today}.csv"


async def save(page, link, path) -> tuple[str, list[dict]]:
    """Click `link`, wait for the download, and read it: (the file name the browser was given, its rows)."""
    async with page.expect_download() as started:
        await link.click()
    download = await started.value
    await download.save_as(path)
    return download.suggested_filename, list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def canned_queries() -> dict[str, str]:
    import yaml

    from tests.support.web import METADATA

    return {
        name: q["sql"]
        for name, q in yaml.safe_load(METADATA.read_text())["databases"]["conversation_logs"]["queries"].items()
    }


@pytest.mark.parametrize("name", sorted(canned_queries()))
def test_no_canned_query_reads_every_row(search_log, name):
    """At 1M rows a scan of the conversations takes seconds (daily_activity 1.1 s, top_users 1.4 s): every
    canned query reads the summaries, or the rows an index picks."""
    sql = canned_queries()[name]
    aliases = {"conversations", *re.findall(r"\bconversations\s+(?:as\s+)?(?!where|on|order|group|limit)(\w+)", sql)}
    params = dict.fromkeys(re.findall(r":(\w+)", sql), "x")
    plan = [row[3] for row in plain(search_log, f"explain query plan {sql}", params)]
    scans = [step for step in plan if re.match(rf"SCAN ({'|'.join(aliases)})\b", step)]
    assert not scans, (name, plan)
