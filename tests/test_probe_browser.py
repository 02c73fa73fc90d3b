"""A probe in Debian's headless Chromium of the values the new pages echo back: the search form's fields
(also inside its one-line errors), the login form's `next`, and the table's download link built from the
page's filters. Each payload calls alert(); a dialog is a script that ran. The CSP would stop most of them
(issue 20), so the test also looks for an element a payload made: markup from a value is a hole with or
without it."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
from datasette_auth_passwords.utils import hash_password
from playwright.async_api import async_playwright

from tests.support.browser import CHROMIUM, FLAGS
from tests.support.processes import start_datasette, stop
from tests.support.web import write_sample_log

pytestmark = pytest.mark.slow  # a real `datasette serve` and a browser

PASSWORD = "correct horse battery staple"
FAST = 1000  # hash iterations: the test does not measure the login
# An element a payload made: a handler attribute, or a script holding alert( (our own scripts never do).
INJECTED = """[...document.querySelectorAll('[onerror], [onload], script')]
  .filter(e => e.tagName !== 'SCRIPT' || e.textContent.includes('alert(')).length"""
PAYLOADS = ['"><img src=x onerror=alert(1)>', "</title><script>alert(2)</script>", "'><svg onload=alert(3)>"]
SEARCH = "/conversation_logs/search?"
TABLE = "/conversation_logs/conversations?"


def urls() -> list[tuple[str, int]]:
    """(page, the status it answers): the errors echo the value that is wrong."""
    pages = []
    for payload in PAYLOADS:
        pages += [
            (SEARCH + urlencode({"q": payload, "user": payload, "guild": payload}), 200),
            (SEARCH + urlencode({"q": "penguin", "since": payload}), 400),
            (SEARCH + urlencode({"q": "penguin", "page": payload}), 400),
            ("/-/login?" + urlencode({"next": "/" + payload}), 200),
            (TABLE + urlencode({"user_name": payload, "_search": payload}), 200),
        ]
    return pages


async def test_nothing_echoed_back_by_the_new_pages_runs(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=20)
    env = {"DATASETTE_REQUIRE_LOGIN": "1", "DATASETTE_PASSWORD_HASH": hash_password(PASSWORD, iterations=FAST)}
    process, base = await start_datasette(path, env)
    ran: list[str] = []
    statuses = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page()
            page.on("dialog", lambda dialog: (ran.append(dialog.message), asyncio.ensure_future(dialog.dismiss())))
            await page.goto(f"{base}/-/login")
            await page.fill("input[name=username]", "admin")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("input[type=submit]")
            await page.wait_for_url(f"{base}/")
            for url, status in urls():
                response = await page.goto(base + url)
                statuses.append((url, response.status, status, await page.evaluate(INJECTED)))
                assert await page.locator('a[href^="javascript:" i]').count() == 0, url
            await browser.close()
    finally:
        await stop(process)
    assert [(url, got) for url, got, expected, _ in statuses if got != expected] == []
    assert [(url, made) for url, *_, made in statuses if made] == []
    assert ran == []
