"""The insight dashboard (datasette-dashboards on Datasette 0.65): the page, every chart's SQL through
Datasette's JSON API as the plugin's page fetches it, figures equal to the log's own, and the login."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from datasette_auth_passwords.utils import hash_password
from datasette_dashboards import replace_opts_in_query

from bench.dashboard import charts
from bot.store.sqlite import sqlite3
from tests.support.web import datasette_for
from tests.support.web_auth import fetch, log_in

PASSWORD = "a dashboard password"
RANGE = {"date_start": "2026-01-01", "date_end": "2026-12-31"}


@pytest.fixture
async def ds(log_path):
    with sqlite3.connect(log_path) as conn:  # the sample log has no latency; Claude's replies get some
        conn.execute("update conversations set latency_ms = 200 + 10 * id where model_used != 'static_fallback'")
    datasette = datasette_for(log_path)
    await datasette.invoke_startup()
    return datasette


async def chart_rows(ds, name: str, options: dict | None = None) -> list[dict]:
    options = options or {}
    sql = replace_opts_in_query(charts()[name], options)
    response = await ds.client.get("/conversation_logs.json?" + urlencode({"sql": sql, **options, "_shape": "array"}))
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_dashboard_page_lists_every_chart(ds):
    page = await ds.client.get("/-/dashboards/insight")
    assert page.status_code == 200
    for name in charts():
        assert f"chart-{name}" in page.text or name in page.text
    assert "date_start" in page.text and "date_end" in page.text
    home = await ds.client.get("/")
    stats = await ds.client.get("/conversation_logs/stats")
    assert 'href="/-/dashboards/insight"' in home.text and 'href="/-/dashboards/insight"' in stats.text


@pytest.mark.parametrize("options", [{}, RANGE])
async def test_every_chart_answers_with_data(ds, options):
    for name in charts():
        assert await chart_rows(ds, name, options), name


async def test_the_charts_agree_with_the_log(ds, log_path):
    by_day = {row["day"]: row for row in await chart_rows(ds, "activity")}
    direct = await ds.client.get(
        "/conversation_logs.json?"
        + urlencode(
            {
                "_shape": "array",
                "sql": (
                    "select date(timestamp) as day, count(*) as conversations, count(distinct user_id) as unique_users "
                    "from conversations group by 1"
                ),
            }
        )
    )
    assert by_day == {row["day"]: row for row in direct.json()}
    [total] = await chart_rows(ds, "cost-total")
    costs = (await ds.client.get("/conversation_logs/costs.json?_shape=array")).json()
    assert total["cost"] == costs[0]["estimated_usd"]  # the dashboard and !stats agree to the cent
    hours = sum(row["conversations"] for row in await chart_rows(ds, "busiest-hours"))
    [count] = await chart_rows(ds, "conversations-total")
    assert hours == count["conversations"] == 40
    latency = await chart_rows(ds, "latency")
    assert all(row["p50"] <= row["p95"] for row in latency)


async def test_the_dashboard_is_behind_the_login(log_path, monkeypatch):
    monkeypatch.setenv("DATASETTE_REQUIRE_LOGIN", "1")
    monkeypatch.setenv("DATASETTE_PASSWORD_HASH", hash_password(PASSWORD, iterations=1000))
    monkeypatch.delenv("DATASETTE_PUBLIC", raising=False)
    ds = datasette_for(log_path)
    await ds.invoke_startup()
    for path in (
        "/-/dashboards",
        "/-/dashboards/insight",
        "/-/dashboards/insight/cost?embed=1",
        "/conversation_logs.json?sql=select+1",
    ):
        response = await fetch(ds, "GET", path)
        assert response.status_code in (302, 401, 403), path
        assert "usage_daily" not in response.text
    logged_in = await log_in(ds, PASSWORD)
    cookies = {"ds_actor": logged_in.cookies["ds_actor"]}
    assert (await fetch(ds, "GET", "/-/dashboards/insight", cookies=cookies)).status_code == 200


def test_every_canned_query_and_chart_has_a_title():
    import yaml

    from bot.store.queries import METADATA

    metadata = yaml.safe_load(METADATA.read_text())
    queries = metadata["databases"]["conversation_logs"]["queries"]
    assert "costs" in queries and all(query.get("title") for query in queries.values())
    charts_config = metadata["plugins"]["datasette-dashboards"]["insight"]["charts"]
    assert all(chart.get("title") for chart in charts_config.values())
    laid_out = {name for row in metadata["plugins"]["datasette-dashboards"]["insight"]["layout"] for name in row}
    assert laid_out == set(charts_config)
