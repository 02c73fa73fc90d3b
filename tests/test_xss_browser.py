"""Issue 20, item 1: no script from user text runs on any page an owner opens. Debian's headless Chromium,
logged in through the login form, on a real `datasette serve` (the Procfile's arguments) of a log holding
hostile display names, nicknames, user names, messages, replies and attachment names. Each payload calls
alert(); a dialog is a script that ran. Every page also carries a CSP, and on a log of ordinary text no
page reports a violation: Datasette's, the login's and the dashboards' own scripts all still run."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest
import yaml
from datasette_auth_passwords.utils import hash_password
from playwright.async_api import async_playwright

from bot.store import ConversationLog, Exchange
from tests.support.browser import CHROMIUM, FLAGS
from tests.support.processes import start_datasette, stop
from tests.support.web import METADATA, write_sample_log

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser

PASSWORD = "correct horse battery staple"
FAST = 1000  # hash iterations: the test does not measure the login
# Discord allows 32 characters in a display name or nickname: every name payload fits.
NAME = "~<img src=x onerror=alert(1)>"
NICK = '"><svg onload=alert(2)>'
SCRIPT_NAME = "<script>alert(3)</script>"
MESSAGES = [
    "<img src=x onerror=alert(4)>",
    "[x](javascript:alert(5))",
    "javascript:alert(6)",
    "<script>alert(7)</script>",
    "</textarea><img src=x onerror=alert(8)>",
]
REPLY = '<iframe srcdoc="<script>alert(9)</script>"></iframe>'
FOLLOW_UP = "<details open ontoggle=alert(10)>x</details>"
ATTACHMENT = json.dumps(
    [
        {
            "name": "<img src=x onerror=alert(11)>.png",
            "type": "<b>image/png</b>",
            "size": 3,
            "status": "refused",
            "reason": "<svg onload=alert(12)>",
        }
    ]
)
GUILD = "g1"
# Wait for every chart's rows before judging a dashboard page: the table chart writes its cells last.
CHART_READY = "[id^=chart-] tbody tr"
CHART_TIMEOUT_MS = 15_000
DASHBOARD = "/-/dashboards/insight"


def write_hostile_log(path) -> None:
    with ConversationLog(path) as store:
        people = [("201", "mallory", NAME, GUILD), ("202", NICK, SCRIPT_NAME, GUILD), ("203", "eve", NICK, None)]
        for n, message in enumerate(MESSAGES * 2):
            user_id, user_name, display, guild = people[n % len(people)]
            store.submit(
                Exchange(
                    user_id=user_id,
                    user_name=user_name,
                    display_name=display,
                    guild_id=guild,
                    channel_id="c1",
                    user_message=message,
                    bot_response=REPLY,
                    model_used="claude-haiku-4-5",
                    message_id=f"m{n}",
                    input_tokens=5,
                    output_tokens=7,
                    attachments=ATTACHMENT if n == 0 else None,
                )
            ).result()
        store.set_reply_id("m0", "r0").result()
        store.rate("r0", "202", 1).result()
        store.submit(
            Exchange(
                user_id="202",
                user_name=NICK,
                display_name=NAME,
                guild_id=GUILD,
                channel_id="c1",
                user_message=FOLLOW_UP,
                bot_response=REPLY,
                model_used="claude-haiku-4-5",
                message_id="m-reply",
                reply_to_message_id="r0",
                conversation_id="m0",
            )
        ).result()


def canned_queries(params: dict) -> list[str]:
    """Every canned query of metadata.yml, with its parameters filled in."""
    queries = yaml.safe_load(METADATA.read_text())["databases"]["conversation_logs"]["queries"]
    return [
        f"/conversation_logs/{name}?" + urlencode({p: params[p] for p in query.get("params", [])})
        for name, query in queries.items()
    ]


def pages(user: str, name: str) -> list[str]:
    dashboards = [
        "/-/dashboards/insight",
        "/-/dashboards/insight/top-users",
        "/-/dashboards/insight/embed",
        "/-/dashboards/insight/top-users/embed",
    ]
    table = "/conversation_logs/conversations"
    return [
        *dashboards,
        "/",
        "/conversation_logs",
        table,
        f"{table}/1",
        f"{table}/{len(MESSAGES) * 2 + 1}",
        f"{table}?" + urlencode({"_search": "img"}),
        f"{table}?" + urlencode({"display_name": name}),
        f"{table}?_facet=display_name",
        f"{table}.transcript",
        f"{table}/1.transcript",
        "/conversation_logs/user_history.transcript?" + urlencode({"user": name}),
        "/conversation_logs/user_history?" + urlencode({"user": name}),
        "/conversation_logs/ratings",
        "/conversation_logs/user_names",
        f"{table}.Notebook",
        "/conversation_logs?"
        + urlencode({"sql": "select display_name, user_name, user_message, attachments from conversations"}),
        *canned_queries({"guild": GUILD, "user": user, "limit": "", "page": ""}),
        "/conversation_logs/search?" + urlencode({"q": "img script alert"}),  # the search page's snippets
        "/conversation_logs/search?" + urlencode({"q": "iframe", "user": name}),
    ]


async def log_in(page, base: str) -> None:
    await page.goto(f"{base}/-/login")
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("input[type=submit]")
    await page.wait_for_url(f"{base}/")


# Collected in the page: what the CSP refused (a payload it stopped, or one of our own scripts it broke).
VIOLATIONS = """document.addEventListener('securitypolicyviolation', e => {
  window.__violations = (window.__violations || []).concat(
    [e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')]); });"""


async def visit_all(log_path, urls_of) -> list[tuple]:
    """(url, what ran, CSP violations, the CSP header, the text of the charts' table cells, whether a payload
    shows as text) for every page, in a browser logged in as the owner."""
    env = {"DATASETTE_REQUIRE_LOGIN": "1", "DATASETTE_PASSWORD_HASH": hash_password(PASSWORD, iterations=FAST)}
    process, base = await start_datasette(log_path, env)
    seen = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page()
            await page.add_init_script(VIOLATIONS)
            ran: list[str] = []
            page.on("dialog", lambda dialog: (ran.append(dialog.message), asyncio.ensure_future(dialog.dismiss())))
            await log_in(page, base)
            for url in urls_of:
                before = len(ran)
                response = await page.goto(base + url)
                assert response.status == 200, (url, response.status)
                # goto waits for the load event, after every image (an onerror) of the page's own HTML; the
                # dashboards write theirs after fetching each chart's rows.
                if url.startswith(DASHBOARD):
                    await page.wait_for_selector(CHART_READY, state="attached", timeout=CHART_TIMEOUT_MS)
                    await page.wait_for_load_state("networkidle")
                violations = await page.evaluate("window.__violations || []")
                # A `javascript:` link from a message would run on a click; none may be made from the log.
                assert await page.locator('a[href^="javascript:" i]').count() == 0, url
                seen.append(
                    (
                        url,
                        ",".join(ran[before:]),
                        violations,
                        response.headers.get("content-security-policy", ""),
                        await page.locator("[id^=chart-] tbody td").all_inner_texts(),
                        "alert(" in await page.inner_text("body"),
                    )
                )
            await browser.close()
    finally:
        await stop(process)
    return seen


async def test_no_script_from_user_text_runs_on_any_page(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_hostile_log(path)
    seen = await visit_all(path, pages("201", NAME))
    assert [(url, ran) for url, ran, *_ in seen if ran] == []
    assert [url for url, _, _, policy, *_ in seen if not refuses_inline_script(policy)] == []
    # The CSP is the second line: the top-users chart itself writes the name as text, not as markup
    # (users 201 and 202 go by that name).
    # The payloads did reach the pages that show the log's text: shown, as text.
    shown = {url for url, *_, payload_as_text in seen if payload_as_text}
    assert {
        url for url in pages("201", NAME) if "transcript" in url or ("conversations" in url and "Notebook" not in url)
    } - shown == set()
    assert {url: cells.count(NAME) for url, *_, cells, _ in seen if url.startswith(DASHBOARD)} == {
        url: 2 for url in pages("201", NAME) if url.startswith(DASHBOARD)
    }


def refuses_inline_script(policy: str) -> bool:
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    script = directives.get("script-src", directives.get("default-src", ["*"]))
    return "'unsafe-inline'" not in script and "*" not in script and any(s.startswith("'nonce-") for s in script)


async def test_every_page_keeps_its_own_scripts_under_the_policy(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=20)
    seen = await visit_all(path, pages("101", "Alice A."))
    assert [(url, violations) for url, _, violations, *_ in seen if violations] == []
