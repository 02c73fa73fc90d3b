"""Datasette's ASGI client with the real metadata.yml and plugins/, on a log written by the bot's store."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlite_utils import Database

from bot.store import ConversationLog
from tests.support import PROJECT
from tests.support.web import datasette_for, fingerprint, procfile_settings, sample_exchange

QUERIES = ["stats", "models", "user_history", "daily_activity", "top_users", "rated_replies", "costs"]


@pytest.fixture
async def ds(log_path):
    datasette = datasette_for(log_path)
    await datasette.invoke_startup()
    return datasette


async def rows(ds, path: str) -> list[dict]:
    response = await ds.client.get(path + ("&" if "?" in path else "?") + "_shape=array")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("query", QUERIES)
async def test_every_canned_query_answers_as_html_json_and_csv(ds, query):
    params = "?user=alice" if query == "user_history" else ""
    html = await ds.client.get(f"/conversation_logs/{query}{params}")
    data = await ds.client.get(f"/conversation_logs/{query}.json{params}")
    text = await ds.client.get(f"/conversation_logs/{query}.csv{params}")
    assert html.status_code == data.status_code == text.status_code == 200
    assert data.json()["rows"]
    parsed = list(csv.reader(io.StringIO(text.text)))
    assert parsed[0] == data.json()["columns"] and len(parsed) - 1 == len(data.json()["rows"])


async def test_stats_and_models_agree_with_the_bot(ds, log_path):
    bot_figures = ConversationLog(log_path).stats()
    [web] = await rows(ds, "/conversation_logs/stats.json")
    figures = (
        "total_conversations",
        "unique_users",
        "last_24_hours",
        "total_tokens",
        "opted_out_users",
        "rated_replies",
        "replies_rated_up",
    )
    assert web == {k: bot_figures[k] for k in figures}
    assert web["total_conversations"] == 40 and web["last_24_hours"] == 30 and web["unique_users"] == 3
    assert await rows(ds, "/conversation_logs/models.json") == bot_figures["models"]


@pytest.mark.parametrize("user", ["101", "alice", "ALICE", "Alice A.", "Robert'); DROP TABLE x;--", "nobody"])
async def test_user_history_gives_the_same_rows_as_the_bot(ds, log_path, user):
    from urllib.parse import quote

    web = await rows(ds, f"/conversation_logs/user_history.json?user={quote(user)}")
    assert web == ConversationLog(log_path).user_history(user)
    assert len(web) == (0 if user == "nobody" else 10)
    limited = await rows(ds, f"/conversation_logs/user_history.json?user={quote(user)}&limit=3")
    assert limited == web[:3]


async def test_daily_activity_and_top_users_match_python(ds, log_path):
    with Database(log_path) as db:
        all_rows = list(db["conversations"].rows)
    by_day: dict[str, list] = {}
    for row in all_rows:
        by_day.setdefault(row["timestamp"][:10], []).append(row)
    days = await rows(ds, "/conversation_logs/daily_activity.json")
    assert {d["day"]: (d["conversations"], d["unique_users"], d["tokens"]) for d in days} == {
        day: (len(rs), len({r["user_id"] for r in rs}), sum(r["tokens_used"] for r in rs)) for day, rs in by_day.items()
    }
    top = await rows(ds, "/conversation_logs/top_users.json")
    assert [(u["user_id"], u["conversations"]) for u in top] == [("101", 14), ("102", 13), ("103", 13)]


async def test_table_page_has_descriptions_facets_and_newest_first(ds):
    data = (await ds.client.get("/conversation_logs/conversations.json?_shape=objects&_extra=facet_results")).json()
    ids = [r["id"] for r in data["rows"]]
    assert ids == sorted(ids, reverse=True)
    page = await ds.client.get("/conversation_logs/conversations")
    assert "One row for each exchange" in page.text
    assert "Discord user ID" in page.text  # column description from the spec
    for facet in ("model_used", "user_name", "channel_id"):
        assert f'data-column="{facet}"' in page.text


async def test_full_text_search_finds_and_forgets(ds, log_path):
    found = await rows(ds, "/conversation_logs/conversations.json?_search=penguins")
    assert sorted(r["id"] for r in found) == [1, 6, 11, 16, 21, 26, 31, 36]
    page = await ds.client.get("/conversation_logs/conversations")
    assert 'name="_search"' in page.text
    with Database(log_path) as db:  # a deletion (as !forget will do) leaves the index by trigger
        db.execute("delete from conversations where id = 1")
        db.conn.commit()
    assert len(await rows(ds, "/conversation_logs/conversations.json?_search=penguins")) == 7


WRITES = [
    "insert into conversations (user_id, user_message) values ('x', 'y')",
    "update conversations set bot_response = 'hacked'",
    "delete from conversations",
    "drop table conversations",
    "attach database '/tmp/evil.db' as evil",
    "pragma journal_mode = delete",
    "pragma user_version = 7",
    "select 1; delete from conversations",
    "with x as (select 1) delete from conversations",
]


@pytest.mark.parametrize("sql", WRITES)
async def test_no_write_goes_through_sql(ds, log_path, sql):
    before = fingerprint(log_path)
    response = await ds.client.get("/conversation_logs.json", params={"sql": sql})
    assert response.status_code in (400, 403), response.text
    assert response.json()["ok"] is False
    assert fingerprint(log_path) == before


async def test_canned_query_parameters_cannot_write(ds, log_path):
    before = fingerprint(log_path)
    for user in ("x'; delete from conversations; --", "' or 1=1 --"):
        assert await rows(ds, f"/conversation_logs/user_history.json?user={user}") == []
    assert fingerprint(log_path) == before


async def test_settings_come_from_the_procfile_and_make_web_agrees(ds):
    served = (await ds.client.get("/-/settings.json")).json()
    makefile = (PROJECT / "Makefile").read_text()
    [make_settings] = re.findall(r"^DATASETTE_SETTINGS := (.*)$", makefile, re.M)
    pairs = re.findall(r"--setting (\S+) (\S+)", make_settings)
    assert dict(pairs) == procfile_settings()
    assert procfile_settings() == {
        "allow_csv_stream": "on",
        "max_csv_mb": "0",
        "sql_time_limit_ms": "3000",
        "max_returned_rows": "1000",
        "suggest_facets": "off",
    }
    assert served["allow_csv_stream"] is True and served["max_csv_mb"] == 0 and served["suggest_facets"] is False


async def test_streamed_csv_has_every_row(tmp_path):
    path = tmp_path / "conversation_logs.db"
    with ConversationLog(path) as store:
        for future in [store.submit(sample_exchange(n)) for n in range(2500)]:
            future.result()
    ds = datasette_for(path)
    for url in (
        "/conversation_logs/conversations.csv?_stream=on&_size=max",
        "/conversation_logs/conversations.csv?_stream=on&_size=max&_sort_desc=id",
    ):
        ids = [int(r["id"]) for r in csv.DictReader(io.StringIO((await ds.client.get(url)).text))]
        assert ids == list(range(1, 2501))  # every row, in id order like !export
    chosen = await ds.client.get("/conversation_logs/conversations.csv?_stream=on&_size=max&_sort_desc=tokens_used")
    tokens = [int(r["tokens_used"]) for r in csv.DictReader(io.StringIO(chosen.text))]
    assert tokens == sorted(tokens, reverse=True) and len(tokens) == 2500


async def test_transcript_renders_a_users_history_as_a_chat(ds):
    response = await ds.client.get("/conversation_logs/user_history.transcript?user=alice")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Conversations of Alice A.</h1>" in html
    assert html.index("question 0 about") < html.index("question 39 about") if "question 0 about" in html else True
    assert html.count('class="turn user"') == 10 and html.count('class="turn bot"') == 10
    escaped = await ds.client.get("/conversation_logs/conversations.transcript?user_id=103")
    assert "&lt;b&gt;r&lt;/b&gt;" in escaped.text and "<b>r</b>" not in escaped.text
    links = await ds.client.get("/conversation_logs/user_history?user=alice")
    assert 'href="/conversation_logs/user_history.transcript?user=alice"' in links.text


async def test_a_row_and_the_table_offer_the_transcript(ds):
    row = await ds.client.get("/conversation_logs/conversations/5.transcript")
    assert row.status_code == 200 and "question 4 about" in row.text  # id 5 is the fifth exchange, n=4
    assert row.text.count('class="turn user"') == 1
    table = await ds.client.get("/conversation_logs/conversations")
    assert "conversations.transcript" in table.text


async def test_user_names_link_to_their_transcript(ds):
    page = await ds.client.get("/conversation_logs/conversations?user_id=102")
    assert 'href="/conversation_logs/user_history.transcript?user=bob"' in page.text


async def test_export_notebook_page_works_from_the_table(ds):
    table = await ds.client.get("/conversation_logs/conversations")
    assert "conversations.Notebook" in table.text
    notebook = await ds.client.get("/conversation_logs/conversations.Notebook")
    assert notebook.status_code == 200 and "import pandas" in notebook.text
    # The code it gives loads from a URL on this Datasette: follow it.
    [url] = re.findall(
        r"&#34;http://localhost(/conversation_logs/conversations\.json\?_shape=array)&#34;", notebook.text
    )
    assert len((await ds.client.get(url)).json()) == 40


async def test_robots_are_blocked(ds):
    response = await ds.client.get("/robots.txt")
    assert response.status_code == 200 and "Disallow: /" in response.text
