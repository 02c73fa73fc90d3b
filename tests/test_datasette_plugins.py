"""Our Datasette plugins: the startup check, the login requirement and counted facets, through datasette.client."""

from __future__ import annotations

import base64
import importlib.util
import re

import click
import pytest
from datasette_auth_passwords.utils import hash_password
from sqlite_utils import Database

from bot.store import FACET_COLUMNS
from bot.store.sqlite import sqlite3
from tests.support.web import PLUGINS, datasette_for, write_sample_log

PASSWORD = "correct horse battery staple"
_spec = importlib.util.spec_from_file_location("counted_facets", PLUGINS / "counted_facets.py")
counted_facets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(counted_facets)
COUNTED_COLUMNS = counted_facets.COUNTED_COLUMNS


async def refusal(path) -> str:
    with pytest.raises(click.ClickException) as raised:
        await datasette_for(path).invoke_startup()
    return raised.value.message


async def test_a_good_log_starts(log_path):
    ds = datasette_for(log_path)
    await ds.invoke_startup()
    assert (await ds.client.get("/conversation_logs/conversations.json")).status_code == 200


async def test_refuses_a_file_that_is_not_wal(tmp_path):
    path = tmp_path / "conversation_logs.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "create table conversations (id integer primary key, user_id, user_name, channel_id, "
            "user_message, bot_response, timestamp, tokens_used, model_used)"
        )
    message = await refusal(path)
    assert "not in WAL mode" in message and str(path) in message


async def test_refuses_a_file_without_the_table(tmp_path):
    path = tmp_path / "conversation_logs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("pragma journal_mode=wal")
        conn.execute("create table something_else (x)")
    assert "has no 'conversations' table" in await refusal(path)


async def test_refuses_a_table_missing_spec_columns(tmp_path):
    path = tmp_path / "conversation_logs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("pragma journal_mode=wal")
        conn.execute("create table conversations (id integer primary key, user_id, user_message)")
    message = await refusal(path)
    assert "lacks the columns" in message and "bot_response" in message


async def test_refuses_a_file_of_another_name(tmp_path):
    path = tmp_path / "other.db"
    write_sample_log(path, count=1)
    assert "no database named 'conversation_logs'" in await refusal(path)


async def test_web_mode_without_a_password_hash_refuses_to_start(log_path, monkeypatch):
    monkeypatch.setenv("DATASETTE_REQUIRE_LOGIN", "1")
    monkeypatch.delenv("DATASETTE_PASSWORD_HASH", raising=False)
    assert "DATASETTE_PASSWORD_HASH is not set" in await refusal(log_path)


async def test_web_mode_can_be_made_public_on_purpose(log_path, monkeypatch):
    monkeypatch.setenv("DATASETTE_REQUIRE_LOGIN", "1")
    monkeypatch.setenv("DATASETTE_PUBLIC", "1")
    ds = datasette_for(log_path)
    await ds.invoke_startup()
    assert (await ds.client.get("/conversation_logs/conversations")).status_code == 200


@pytest.fixture
async def guarded(log_path, monkeypatch):
    monkeypatch.setenv("DATASETTE_REQUIRE_LOGIN", "1")
    monkeypatch.setenv("DATASETTE_PASSWORD_HASH", hash_password(PASSWORD, iterations=1000))
    ds = datasette_for(log_path)
    await ds.invoke_startup()
    return ds


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/conversation_logs",
        "/conversation_logs/conversations",
        "/conversation_logs/conversations.csv?_stream=on",
        "/conversation_logs/stats.json",
        "/conversation_logs.json?sql=select+1",
        "/conversation_logs/user_history.transcript?user=alice",
    ],
)
async def test_web_mode_sends_anonymous_visitors_to_login(guarded, path):
    from urllib.parse import quote

    response = await guarded.client.get(path)
    if path.split("?")[0].endswith((".json", ".csv")):  # a script or a download gets 401, not HTML (issue 24)
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic")
    else:  # a person is sent to the login form, which brings them back
        assert response.status_code == 302 and response.headers["location"] == "/-/login?next=" + quote(path, safe="")


async def log_in(ds, password: str):
    token = (await ds.client.get("/-/login")).cookies["ds_csrftoken"]
    return await ds.client.post(
        "/-/login",
        data={"username": "admin", "password": password, "csrftoken": token},
        cookies={"ds_csrftoken": token},
    )


async def test_logging_in_opens_every_page(guarded):
    wrong = await log_in(guarded, "guess")
    assert "Invalid username or password" in wrong.text and "ds_actor" not in wrong.cookies
    right = await log_in(guarded, PASSWORD)
    assert right.status_code == 302
    cookie = right.cookies["ds_actor"]
    page = await guarded.client.get("/conversation_logs/stats.json", cookies={"ds_actor": cookie})
    assert page.status_code == 200 and page.json()["rows"]


async def test_basic_auth_works_for_scripts(guarded):
    credentials = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    response = await guarded.client.get(
        "/conversation_logs/conversations.csv", headers={"Authorization": f"Basic {credentials}"}
    )
    assert response.status_code == 200 and response.text.startswith("id,user_id,user_name")


def facets(data: dict, suffix: str = "") -> dict[str, list[tuple]]:
    return {
        name.removesuffix(suffix): [(v["value"], v["label"], v["count"], v["selected"]) for v in facet["results"]]
        for name, facet in data["facet_results"].items()
        if name.endswith(suffix)
    }


async def test_counted_facets_equal_datasettes_column_facets(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=40)
    ds = datasette_for(path)
    both = "&".join(f"_facet={column}" for column in COUNTED_COLUMNS)  # Datasette's own, keyed column_2
    for query in ("", "channel_id=c0", "_search=penguins", "model_used=static_fallback&user_name=alice"):
        data = (await ds.client.get(f"/conversation_logs/conversations.json?{query}&{both}")).json()
        counted = {name: values for name, values in facets(data).items() if not name.endswith("_2")}
        assert counted == facets(data, "_2") and set(counted) == COUNTED_COLUMNS, query
        assert {facet["type"] for facet in data["facet_results"].values()} == {"column"}
    page = (await ds.client.get("/conversation_logs/conversations")).text
    names = [re.sub(r"\s+", " ", name) for name in re.findall(r"<strong>(.*?)<span", page, re.S)]
    assert sorted(names) == ["channel_id ", "model_used ", "user_name "]  # no "(counted)" label


async def test_the_unfiltered_page_reads_the_counts_and_a_filtered_one_scans(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=12)
    with Database(path) as db:  # a count no scan could give: proof of where the page reads
        db.execute(
            "update facet_counts set conversations = 999 where facet = 'model_used' and value = 'static_fallback'"
        )
    ds = datasette_for(path)
    unfiltered = facets((await ds.client.get("/conversation_logs/conversations.json")).json())
    assert ("static_fallback", "static_fallback", 999, False) in unfiltered["model_used"]
    filtered = facets((await ds.client.get("/conversation_logs/conversations.json?channel_id=c1")).json())
    assert ("static_fallback", "static_fallback", 3, False) in filtered["model_used"]
    other = facets((await ds.client.get("/conversation_logs/conversations.json?_facet_counted=display_name")).json())
    assert sorted(other["display_name"]) == [(name, name, 4, False) for name in ("<b>r</b>", "Alice A.", "Bobby")]


def test_the_plugin_counts_the_columns_the_store_keeps():
    assert set(FACET_COLUMNS) == COUNTED_COLUMNS
