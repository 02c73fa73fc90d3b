"""Issue 24, the reading parts, on Datasette in-process (the browser's checks: test_web_reading_browser.py):
the table's cards, the conversation page and its chat-jsonl download, row pages, hidden plumbing, canned
queries with their SQL folded, figures formatted in HTML only, and rated_replies a page at a time."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from bot.exports.files import records
from bot.store import ConversationLog, Exchange
from bot.store.export_sql import Selection
from tests.support.web import METADATA, datasette_for, write_sample_log

PLUMBING = [
    "sqlite_sequence",
    "_sqlite_migrations",
    "usage_daily",
    "usage_user_daily",
    "day_users",
    "hour_counts",
    "latency_daily",
    "rating_scores",
    "rating_totals",
    "conversations_fts_data",
    "conversations_fts_idx",
]
QUERIES = yaml.safe_load(METADATA.read_text())["databases"]["conversation_logs"]["queries"]
PAGE_SIZE = 50  # rated_replies' page (metadata.yml)


def turn(n: int, conversation: str, **changes) -> Exchange:
    base = {
        "user_id": "101",
        "user_name": "alice",
        "display_name": "Alice A.",
        "guild_id": "g1",
        "channel_id": "c1",
        "user_message": f"turn {n} of {conversation}",
        "bot_response": f"reply {n}",
        "model_used": "claude-haiku-4-5",
        "message_id": f"{conversation}-m{n}",
        "input_tokens": 1_000_000,
        "output_tokens": 200_000,
        "conversation_id": conversation,
        "timestamp": f"2026-03-0{n + 1} 12:00:00",
    }
    return Exchange(**{**base, **changes})


@pytest.fixture
async def chat(tmp_path):
    """Conversation "conv-a": three turns (a cut reply, a fallback), rated; "conv-b": one other turn."""
    path = tmp_path / "conversation_logs.db"
    with ConversationLog(path) as store:
        store.submit(turn(0, "conv-a")).result()
        store.submit(turn(1, "conv-a", stop_reason="max_tokens")).result()
        store.submit(turn(2, "conv-a", model_used="static_fallback", input_tokens=0, output_tokens=0)).result()
        store.submit(turn(0, "conv-b", user_message="elsewhere")).result()
        store.set_reply_id("conv-a-m0", "r0").result()
        store.rate("r0", "rater-1", 1).result()
        store.rate("r0", "rater-2", -1).result()
        store.rate("r0", "rater-3", 1).result()
    datasette = datasette_for(path)
    await datasette.invoke_startup()
    return datasette, path


def card_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<article class="exchange[^"]*" id="exchange-(\d+)"', html)]


async def test_the_table_shows_each_exchange_as_a_card_linking_its_conversation(chat):
    ds, _ = chat
    html = (await ds.client.get("/conversation_logs/conversations")).text
    assert card_ids(html) == [4, 3, 2, 1]  # newest first, as sort_desc: id
    assert html.count('href="/conversation_logs/conversation?conversation_id=conv-a"') == 3
    assert "cut at the length limit" in html and "fallback reply: Claude did not answer" in html
    assert "rated 2 up, 1 down" in html  # the ratings of r0
    assert "$2.00" in html  # 1M tokens in at $1, 200k out at $5 per million (haiku's m012 price)
    assert 'action="/conversation_logs/search"' in html and 'name="q"' in html
    columns = (await ds.client.get("/conversation_logs/conversations?_view=columns")).text
    assert 'class="rows-and-columns"' in columns and card_ids(columns) == []


async def test_a_conversation_page_shows_its_turns_in_order_with_ratings_and_row_links(chat):
    ds, _ = chat
    html = (await ds.client.get("/conversation_logs/conversation?conversation_id=conv-a")).text
    assert card_ids(html) == [1, 2, 3]
    assert "elsewhere" not in html
    assert all(f'href="/conversation_logs/conversations/{n}"' in html for n in (1, 2, 3))
    assert "rated 2 up, 1 down" in html and "3 turns, oldest first" in html
    assert 'href="/conversation_logs/conversation.chatjsonl?conversation_id=conv-a"' in html
    assert "_show_sql=1" in html and 'id="sql-query"' not in html  # folded, one click away
    row = (await ds.client.get("/conversation_logs/conversations/2")).text
    assert 'href="/conversation_logs/conversation?conversation_id=conv-a"' in row and 'class="row-columns"' in row


async def test_the_download_is_the_bots_chat_jsonl_export_of_that_conversation(chat):
    ds, path = chat
    response = await ds.client.get("/conversation_logs/conversation.chatjsonl?conversation_id=conv-a")
    assert response.status_code == 200
    assert re.fullmatch(
        r'attachment; filename="conversation_export_\d{8}_\d{6}_chat\.jsonl"', response.headers["content-disposition"]
    )
    with ConversationLog(path) as store:
        exported = b"".join(line for line, _ in records("chat-jsonl", store, Selection(exclude_fallback=True)))
    [expected] = [line for line in exported.splitlines() if json.loads(line)["conversation_id"] == "conv-a"]
    assert response.content == expected + b"\n"
    assert [m["content"] for m in json.loads(response.content)["messages"]] == ["turn 0 of conv-a", "reply 0"]


@pytest.mark.parametrize(
    ("query", "status", "names"),
    [("", 400, "conversation_id is missing"), ("?conversation_id=nope", 404, "No conversation has conversation_id")],
)
async def test_a_download_without_a_conversation_says_so(chat, query, status, names):
    ds, _ = chat
    response = await ds.client.get(f"/conversation_logs/conversation.chatjsonl{query}")
    assert response.status_code == status and response.text.startswith(names) and response.text.count("\n") == 1


async def test_home_and_database_pages_hide_the_plumbing_which_owners_still_reach(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=5)
    ds = datasette_for(path)
    await ds.invoke_startup()
    home = (await ds.client.get("/")).text
    database = (await ds.client.get("/conversation_logs")).text
    listed = database.split("hidden table")[0]  # Datasette lists hidden ones after its toggle
    for table in PLUMBING:
        assert f'/conversation_logs/{table}"' not in home and f'/conversation_logs/{table}"' not in listed, table
        assert (await ds.client.get(f"/conversation_logs/{table}")).status_code == 200, table
    assert home.index('/conversation_logs/conversations"') < home.index('/conversation_logs/ratings"')
    first_screen = home.split("<h2")[0]  # before the databases' table lists
    assert 'action="/conversation_logs/search"' in first_screen and 'href="/-/dashboards/insight"' in first_screen
    assert [name for name in QUERIES if f'href="/conversation_logs/{name}"' not in first_screen] == []
    assert listed.index('/conversation_logs/conversations"') < listed.index('/conversation_logs/ratings"')


async def test_canned_queries_answer_first_and_format_figures_in_html_only(chat):
    ds, _ = chat
    assert all(query.get("hide_sql") for query in QUERIES.values())
    stats = await ds.client.get("/conversation_logs/stats")
    assert '<textarea id="sql-editor"' not in stats.text and 'id="sql-query"' not in stats.text
    assert '<td class="col-total_tokens">3,600,000</td>' in stats.text
    raw = (await ds.client.get("/conversation_logs/stats.json?_shape=array")).json()
    assert raw[0]["total_tokens"] == 3_600_000
    costs = await ds.client.get("/conversation_logs/costs?guild=&user=")
    assert re.search(r'<td class="col-estimated_usd">\$\d+\.\d\d</td>', costs.text)
    csv = (await ds.client.get("/conversation_logs/costs.csv?guild=&user=")).text
    assert "$" not in csv


async def test_rated_replies_come_a_page_at_a_time(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=200)  # every third reply rated: 67
    ds = datasette_for(path)
    await ds.invoke_startup()
    first = await ds.client.get("/conversation_logs/rated_replies.json?_shape=array&page=")
    second = await ds.client.get("/conversation_logs/rated_replies.json?_shape=array&page=2")
    assert (len(first.json()), len(second.json())) == (PAGE_SIZE, 67 - PAGE_SIZE)
    assert len({row["id"] for row in first.json() + second.json()}) == 67
    html = (await ds.client.get("/conversation_logs/rated_replies")).text
    assert 'rel="next" href="/conversation_logs/rated_replies?page=2"' in html
    last = (await ds.client.get("/conversation_logs/rated_replies?page=2")).text
    assert 'rel="next"' not in last and 'rel="prev" href="/conversation_logs/rated_replies?page=1"' in last
    wrong = (await ds.client.get("/conversation_logs/rated_replies?page=two")).text
    assert wrong.startswith("page: expected a whole number from 1")  # plugins/canned_numbers.py, one line


async def test_the_page_shows_20_cards_and_the_api_keeps_its_page(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=40)
    ds = datasette_for(path)
    await ds.invoke_startup()
    html = (await ds.client.get("/conversation_logs/conversations")).text
    assert card_ids(html) == list(range(40, 20, -1)) and "_size=20" in re.search(r'href="([^"]*_next=[^"]*)"', html)[1]
    assert len(card_ids((await ds.client.get("/conversation_logs/conversations?_size=30")).text)) == 30
    assert len((await ds.client.get("/conversation_logs/conversations.json?_shape=array")).json()) == 40
