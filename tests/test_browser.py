"""A real headless Chromium (Debian's) on a real `datasette serve`: what a person sees."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect

from tests.support import PROJECT
from tests.support.browser import CHROMIUM, FLAGS
from tests.support.processes import start_datasette, stop
from tests.support.web import write_sample_log

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser

SCREENSHOTS = PROJECT / "artifacts" / "screenshots"


@pytest.fixture
async def site(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=20)
    process, base = await start_datasette(path)
    yield base
    await stop(process)


@pytest.fixture
async def page(site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        await browser.close()


async def test_table_page(page, site):
    await page.goto(f"{site}/conversation_logs/conversations")
    await expect(page.locator("h1")).to_contain_text("conversations")
    await expect(page.locator(".lede")).to_contain_text("20 exchanges")
    await expect(page.locator("article.exchange")).to_have_count(20)
    assert await page.locator("article.exchange").first.get_attribute("id") == "exchange-20"  # newest first
    await expect(page.locator(".facet-info-name", has_text="model_used")).to_be_visible()
    await expect(page.get_by_text("One row for each exchange")).to_be_visible()
    await page.click("text=columns")  # the column view stays one click away
    await expect(page.locator("table.rows-and-columns tbody tr")).to_have_count(20)
    await page.screenshot(path=SCREENSHOTS / "table.png")


async def test_stats_page(page, site):
    await page.goto(f"{site}/conversation_logs/stats")
    await expect(page.locator("h1")).to_contain_text("Statistics")
    cell = page.locator("table.rows-and-columns td.col-total_conversations")
    await expect(cell).to_have_text("20")
    await page.screenshot(path=SCREENSHOTS / "stats.png")


async def test_user_history_form(page, site):
    await page.goto(f"{site}/conversation_logs/user_history")
    await page.fill("input[name=user]", "Alice A.")
    await page.click("input[type=submit]")
    await expect(page).to_have_url(f"{site}/conversation_logs/user_history?user=Alice+A.&limit=")
    rows = page.locator("table.rows-and-columns tbody tr")
    await expect(rows).to_have_count(7)  # exchanges 0, 3, ... 18 are Alice's
    await expect(rows.first.locator("td.col-user_message")).to_have_text("question 18 about weather")
    await page.screenshot(path=SCREENSHOTS / "user_history.png")
    await page.click("text=transcript")
    await expect(page.locator("h1")).to_have_text("Conversations of Alice A.")
    await expect(page.locator(".turn.user")).to_have_count(7)
    await page.screenshot(path=SCREENSHOTS / "transcript.png")


async def test_search(page, site):
    await page.goto(f"{site}/conversation_logs/conversations")
    await page.click("details.chat-filters > summary")  # Datasette's table search, under "Filters"
    await page.fill("input[name=_search]", "penguins")
    await page.press("input[name=_search]", "Enter")
    # The page of 20 cards (plugins/card_page.py) is kept by the form, as any _ argument of the page.
    await expect(page).to_have_url(f"{site}/conversation_logs/conversations?_search=penguins&_size=20&_sort_desc=id")
    messages = page.locator("article.exchange .message")
    await expect(messages).to_have_count(4)
    for text in await messages.all_inner_texts():
        assert "penguins" in text
    await page.screenshot(path=SCREENSHOTS / "search.png")
