"""Issue 24 in Debian's headless Chromium on a real `datasette serve` (the Procfile's arguments): the first
exchange shows without scrolling, a wide row stays within the page, and no text a user controls runs as a
script on any reading page, the dashboard included."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from playwright.async_api import async_playwright

from bench import data
from bot.store import ConversationLog, Exchange
from tests.support import PROJECT
from tests.support.browser import CHROMIUM, FLAGS
from tests.support.processes import closed_port, start_datasette, stop
from tests.support.web import serve_args, serving

pytestmark = pytest.mark.slow  # every test here starts a real process and a browser

SCREEN = {"width": 1400, "height": 900}  # the first screen
REALISTIC_ROWS = 3000  # bench/data.py's generator: 190-character messages, 590-character replies
CHART_READY = "[id^=chart-] tbody tr"  # the dashboard's table chart writes its cells last
CHART_TIMEOUT_MS = 15_000
HOSTILE = {
    "user_message": "<img src=x onerror=alert('message')>",
    "bot_response": "<script>alert('reply')</script>",
    "display_name": "<svg onload=alert('display')>",
    "user_name": "\"><img src=x onerror=alert('nick')>",
    "guild_id": "<img src=x onerror=alert('server')>",
    "channel_id": "<script>alert('channel')</script>",
    "conversation_id": "\"'><script>alert('conversation')</script>",
    "attachments": json.dumps(
        [{"name": "<img src=x onerror=alert('file')>.png", "type": "image/png", "size": 3, "status": "sent"}]
    ),
}
WIDE = "x" * 4000  # one unbroken word, as a pasted hash or URL
# Pixels of the page, or of any box in it (Datasette's table wrapper scrolls sideways), out of sight to the right.
HIDDEN_TO_THE_RIGHT = """Math.max(document.documentElement.scrollWidth - document.documentElement.clientWidth,
    ...[...document.querySelectorAll('body *')].map(box => box.scrollWidth - box.clientWidth))"""


async def browse(path, urls: list[str], check) -> list:
    """check(page, url) for each URL in a 1400×900 Chromium, with every dialog (a script that ran) recorded."""
    process, base = await start_datasette(path)
    found = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page(viewport=SCREEN)
            ran: list[str] = []
            page.on("dialog", lambda dialog: (ran.append(dialog.message), asyncio.ensure_future(dialog.dismiss())))
            for url in urls:
                response = await page.goto(base + url)
                assert response.status == 200, (url, response.status)
                found.append((url, await check(page, url), list(ran)))
                ran.clear()
            await browser.close()
    finally:
        await stop(process)
    return found


async def test_the_first_exchange_is_visible_without_scrolling(tmp_path):
    path = tmp_path / "conversation_logs.db"
    data.build(path, REALISTIC_ROWS)

    async def first_card(page, url):
        card = page.locator("article.exchange").first
        message, reply = await card.locator(".message").bounding_box(), await card.locator(".reply").bounding_box()
        return message["y"] + message["height"], reply["y"]

    [(_, (message_bottom, reply_top), _)] = await browse(path, ["/conversation_logs/conversations"], first_card)
    assert message_bottom <= SCREEN["height"] and reply_top < SCREEN["height"], (message_bottom, reply_top)


async def test_a_wide_row_page_stays_within_the_page(tmp_path):
    path = tmp_path / "conversation_logs.db"
    with ConversationLog(path) as store:
        wide = Exchange(
            user_id="1", user_name="w", channel_id="c", user_message=WIDE, bot_response=WIDE, model_used="m",
            message_id="m1", conversation_id="conv", attachments=json.dumps([{"name": WIDE, "size": 1}]),
        )  # fmt: skip
        store.submit(wide).result()

    async def overflow(page, url):
        return await page.evaluate(HIDDEN_TO_THE_RIGHT)

    urls = [
        "/conversation_logs/conversations/1",
        "/conversation_logs/conversations",
        "/conversation_logs/conversation?conversation_id=conv",
    ]
    assert [(url, pixels) for url, pixels, _ in await browse(path, urls, overflow) if pixels > 0] == []


def write_hostile(path) -> None:
    with ConversationLog(path) as store:
        for n in range(3):
            store.submit(
                Exchange(model_used="claude-haiku-4-5", message_id=f"m{n}", user_id=str(n), **HOSTILE)
            ).result()
        store.set_reply_id("m0", "r0").result()
        store.rate("r0", "rater", 1).result()


async def test_no_user_text_runs_as_script_on_any_reading_page(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_hostile(path)
    conversation = "/conversation_logs/conversation?" + urlencode({"conversation_id": HOSTILE["conversation_id"]})
    urls = [
        "/conversation_logs/conversations",
        "/conversation_logs/conversations?_view=columns",
        "/conversation_logs/conversations/1",
        conversation,
        "/conversation_logs/rated_replies",
        "/conversation_logs/top_users",
        "/conversation_logs/user_history?" + urlencode({"user": "0"}),
        "/-/dashboards/insight",
    ]

    async def shown(page, url):
        if url.startswith("/-/dashboards"):
            await page.wait_for_selector(CHART_READY, state="attached", timeout=CHART_TIMEOUT_MS)
            await page.wait_for_load_state("networkidle")
        return await page.inner_text("body")

    seen = await browse(path, urls, shown)
    assert [(url, ran) for url, _, ran in seen if ran] == []
    # The payloads reached the pages, as text: the cards show every field a user controls.
    cards = {url: text for url, text, _ in seen if url in (urls[0], urls[2], conversation)}
    for field in ("user_message", "bot_response", "display_name", "guild_id", "channel_id"):
        assert all(HOSTILE[field] in text for text in cards.values()), field
    assert all("<img src=x onerror=alert('file')>.png" in text for text in cards.values())


async def test_the_chat_download_works_under_the_procfiles_console_script(tmp_path):
    """The Procfile runs `datasette serve`, a console script, whose sys.path holds its bin/ folder, not the
    project: the download still finds bot/exports. Started away from the project, paths made absolute."""
    path = tmp_path / "conversation_logs.db"
    with ConversationLog(path) as store:
        store.submit(Exchange(user_id="1", user_name="u", channel_id="c", user_message="hi", bot_response="hello",
                              model_used="m", message_id="m1", conversation_id="conv")).result()  # fmt: skip
    port = closed_port()
    args = serve_args(path, port)
    for flag in ("--metadata", "--plugins-dir", "--template-dir"):
        args[args.index(flag) + 1] = str(PROJECT / args[args.index(flag) + 1])
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    console_script = Path(sys.executable).parent / "datasette"
    process = await asyncio.create_subprocess_exec(
        str(console_script), "serve", *args, cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert await serving(f"http://127.0.0.1:{port}", tries=300)
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/conversation_logs/conversation.chatjsonl?conversation_id=conv"
            async with session.get(url) as response:
                assert response.status == 200, await response.text()
                line = json.loads(await response.read())
    finally:
        await stop(process)
    assert [m["content"] for m in line["messages"]] == ["hi", "hello"]
