"""A hostile probe of the search page (plugins/search.py, search_form.py): inputs that answered 500, a day
the page and its download read differently, and control characters in a message that became markup."""

from __future__ import annotations

import re

import pytest

from bot.store import migrate
from bot.store.sqlite import sqlite3
from tests.support.web import datasette_for
from tests.support.web_auth import fetch, guarded

SEARCH = "/conversation_logs/search"
ROWS = 30


def add_row(conn, n: int, message: str) -> None:
    conn.execute(
        "insert into conversations (user_id, user_name, display_name, channel_id, guild_id, user_message,"
        " bot_response, timestamp, tokens_used, model_used, message_id, conversation_id)"
        " values (?, 'alice', 'Alice', 'c1', 'g1', ?, 'a reply', ?, 1, 'claude-haiku-4-5', ?, ?)",
        [str(100 + n % 3), message, f"2026-11-{10 + n % 18} 12:00:00", f"m{n}", f"c{n}"],
    )


@pytest.fixture
async def ds(tmp_path):
    path = tmp_path / "conversation_logs.db"
    migrate(path)
    with sqlite3.connect(path) as conn:
        for n in range(ROWS):
            add_row(conn, n, f"penguin number {n}")
        # STX/ETX are the marks snippet() puts around a found word before the page turns them into <mark>.
        add_row(conn, ROWS, "penguin \x02forged\x03 highlight")
    datasette = datasette_for(path)
    await datasette.invoke_startup()
    return datasette


def error_of(html: str) -> str:
    found = re.findall(r'class="message-error">([^<]*)<', html)
    return found[0] if found else ""


@pytest.mark.parametrize("page", ["²", "³", "¹"])
async def test_a_page_number_in_other_digits_is_refused_by_name(ds, page):
    # "²".isdigit() is True but int("²") raises: this answered 500.
    response = await ds.client.get(SEARCH, params={"q": "penguin", "page": page})
    assert response.status_code == 400, response.text[-300:]
    assert error_of(response.text).startswith("page: expected a whole number")


@pytest.mark.parametrize("words", ["\x00", "penguin\x00", "a\x00b"])
async def test_a_nul_in_the_words_is_refused_by_name(ds, words):
    # FTS5 reads a query string only up to a NUL ("unterminated string"): this answered 500.
    response = await ds.client.get(SEARCH, params={"q": words})
    assert response.status_code == 400, response.text[-300:]
    assert error_of(response.text).startswith("q: ")


@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize("day", ["2026-W48-1", "2026-334"])
async def test_a_day_in_another_iso_form_is_refused_by_name(ds, field, day):
    # Python reads 2026-W48-1 (ISO week) as a day, SQLite's date() does not: the page found 0 rows where its
    # download link (built from Python's reading) had them.
    response = await ds.client.get(SEARCH, params={"q": "penguin", field: day})
    assert response.status_code == 400, (response.status_code, error_of(response.text))
    assert error_of(response.text).startswith(f"{field}: expected a day like")


async def test_control_marks_in_a_message_stay_text(ds):
    # A user's own STX/ETX became <mark>…</mark> on the owner's page: markup made from user text.
    response = await ds.client.get(SEARCH, params={"q": "highlight"})
    assert response.status_code == 200
    hits = re.findall(r'<blockquote class="message">(.*?)</blockquote>', response.text, re.S)
    assert len(hits) == 1
    assert "<mark>forged" not in hits[0] and "<mark>highlight</mark>" in hits[0], hits[0]


@pytest.mark.parametrize("query,name", [("rated_replies", "page"), ("user_history", "limit")])
@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "²", "99999999999999999999999"])
@pytest.mark.parametrize("suffix", ["", ".json", ".csv"])
async def test_a_canned_querys_number_that_is_not_one_is_refused_by_name(ds, query, name, value, suffix):
    # Before: page=abc or 0 showed page 1 and limit=abc no rows, without a word; a huge one said only
    # "datatype mismatch".
    response = await ds.client.get(f"/conversation_logs/{query}{suffix}", params={name: value, "user": "alice"})
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert response.text.startswith(f"{name}: expected a whole number from 1"), response.text[:200]
    assert response.text.count("\n") <= 1


@pytest.mark.parametrize("query,name,value,rows", [("rated_replies", "page", "", 0), ("user_history", "limit", "3", 3)])
async def test_a_canned_querys_good_number_still_answers(ds, query, name, value, rows):
    response = await ds.client.get(f"/conversation_logs/{query}.json", params={name: value, "user": "alice"})
    assert response.status_code == 200 and len(response.json()["rows"]) == rows


async def test_an_anonymous_visitor_with_a_bad_number_still_goes_to_the_login(tmp_path, web_env):
    path = tmp_path / "conversation_logs.db"
    migrate(path)
    ds = await guarded(path)
    page = await fetch(ds, "GET", "/conversation_logs/rated_replies?page=abc")
    assert page.status_code == 302 and page.headers["location"].startswith("/-/login?next=")
    data = await fetch(ds, "GET", "/conversation_logs/rated_replies.json?page=abc")
    assert data.status_code == 401 and "page" not in data.text


async def test_the_last_day_there_is_as_until_is_refused_by_name(ds):
    # The day after 9999-12-31 is past Python's and SQLite's calendars: the download link's end overflowed (500).
    response = await ds.client.get(SEARCH, params={"q": "penguin", "until": "9999-12-31"})
    assert response.status_code == 400, response.status_code
    assert error_of(response.text).startswith("until: expected a day up to 9999-12-30")
    kept = await ds.client.get(SEARCH, params={"q": "penguin", "until": "9999-12-30"})
    assert kept.status_code == 200 and len(re.findall(r'class="search-hit"', kept.text)) == 20
