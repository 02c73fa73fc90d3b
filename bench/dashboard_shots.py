"""The insight dashboard in Debian's headless Chromium on a real `datasette serve`: every chart must render
with data; a full-page screenshot is written.

    python -m bench.dashboard_shots LOG.db docs/dashboard.png [--range START END]

docs/dashboard-1m.png was made this way on a generated log of a million rows (bench/data.py, with 1% of the
replies rated as bench/README says); tests/test_dashboard_browser.py runs the same check on a small log.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlencode

import click
from playwright.async_api import Page, Response, ViewportSize, async_playwright

from bench.dashboard import charts
from tests.test_browser import CHROMIUM, FLAGS
from tests.test_datasette_serve import start_datasette, stop

VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
RENDER_TIMEOUT_MS = 60_000


async def rendered_rows(page: Page, base: str, options: dict[str, str]) -> dict[str, int]:
    """Open the dashboard and wait for every chart; chart -> rows its data request returned."""
    names = list(charts())
    answered: dict[str, int] = {}

    async def on_response(response: Response) -> None:
        if ".json?sql=" in response.url and response.ok:
            body = await response.json()
            query = body.get("query", {}).get("sql", "")
            answered[query] = len(body.get("rows", []))

    page.on("response", on_response)
    await page.goto(f"{base}/-/dashboards/insight" + (f"?{urlencode(options)}" if options else ""))
    for name in names:
        # A vega chart draws a canvas or svg, a metric a paragraph, a table rows.
        await page.wait_for_selector(
            f"#chart-{name} canvas, #chart-{name} svg, #chart-{name} p, #chart-{name} tbody tr",
            timeout=RENDER_TIMEOUT_MS,
        )
    await page.wait_for_load_state("networkidle")
    return {name: answered.get(_expanded(name, options), 0) for name in names}


def _expanded(name: str, options: dict[str, str]) -> str:
    from datasette_dashboards import replace_opts_in_query

    return replace_opts_in_query(charts()[name], options)


async def shoot(db: Path, output: Path | None, options: dict[str, str]) -> dict[str, int]:
    process, base = await start_datasette(db)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page(viewport=VIEWPORT)
            rows = await rendered_rows(page, base, options)
            if output is not None:
                output.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=output, full_page=True)
            await browser.close()
    finally:
        await stop(process)
    return rows


@click.command()
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--range", "date_range", nargs=2, help="date_start and date_end filters, YYYY-MM-DD.")
def main(db: Path, output: Path, date_range: tuple[str, str] | None) -> None:
    options = dict(zip(("date_start", "date_end"), date_range, strict=True)) if date_range else {}
    rows = asyncio.run(shoot(db, output, options))
    for name, count in rows.items():
        click.echo(f"{name}: {count} rows")
    empty = [name for name, count in rows.items() if not count]
    if empty:
        raise click.ClickException(f"charts without data: {', '.join(empty)}")
    click.echo(f"every chart rendered with data; screenshot in {output}")


if __name__ == "__main__":
    main()
