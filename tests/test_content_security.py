"""Issue 20, item 1: the Content-Security-Policy's nonce, through Datasette's real ASGI app (the browser test,
test_xss_browser.py, shows what it stops). Every response has a policy with its own nonce; every <script> a
template writes carries it, and markup from the log never does."""

from __future__ import annotations

import re

from bot.store.sqlite import sqlite3
from tests.support.web_auth import PASSWORD, basic, fetch, guarded

OWNER = basic("admin", PASSWORD)
HOSTILE = '"><script>alert(1)</script><script nonce="guess">alert(2)</script>'


def nonce_of(response) -> str:
    policy = response.headers["content-security-policy"]
    [nonce] = re.findall(r"'nonce-([A-Za-z0-9_-]+)'", policy)
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    return nonce


async def test_every_response_has_a_policy_with_a_fresh_nonce(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    anonymous = await fetch(ds, "GET", "/conversation_logs/conversations")
    assert anonymous.status_code == 302 and nonce_of(anonymous)
    pages = [await fetch(ds, "GET", "/conversation_logs/conversations", headers=OWNER) for _ in range(2)]
    assert nonce_of(pages[0]) != nonce_of(pages[1])
    assert pages[0].headers["x-content-type-options"] == "nosniff"


async def test_the_templates_scripts_carry_the_nonce_and_the_logs_markup_does_not(tiny_log_path, web_env):
    with sqlite3.connect(tiny_log_path) as conn:
        conn.execute("update conversations set display_name = ?, user_message = ?", [HOSTILE, HOSTILE])
    ds = await guarded(tiny_log_path)
    for path in (
        "/conversation_logs/conversations",
        "/conversation_logs",
        "/-/dashboards/insight",
        "/conversation_logs/conversations.transcript",
        "/-/login",
    ):
        response = await fetch(ds, "GET", path, headers=OWNER)
        nonce = nonce_of(response)
        tags = re.findall(r"<script\b[^>]*>", response.text, re.IGNORECASE)
        assert tags and all(f'nonce="{nonce}"' in tag for tag in tags), (path, tags)


async def test_the_dashboards_load_the_text_only_chart_renderers(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    for path in ("/-/dashboards/insight", "/-/dashboards/insight/top-users"):
        page = (await fetch(ds, "GET", path, headers=OWNER)).text
        assert (
            page.index("dashboards.js")
            < page.index("/-/conversation-log/dashboard-charts.js")
            < page.index("renderChart(")
        )
    script = await fetch(ds, "GET", "/-/conversation-log/dashboard-charts.js", headers=OWNER)
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML", script.text)
    assert "textContent" in script.text
