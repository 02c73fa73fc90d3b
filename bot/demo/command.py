"""`python -m bot demo PATH --rows N`; bot/cli registers it."""

from __future__ import annotations

from pathlib import Path

import click

from bot.store.queries import DATABASE
from bot.store.schema import StoreError

DEFAULT_ROWS = 20_000  # a dashboard with something on every day of 90, written in a few seconds
DEFAULT_DAYS = 90
# Datasette names a database after its file, and the web (metadata.yml, the plugins) serves this name only.
LOG_NAME = f"{DATABASE}.db"


@click.command()
@click.argument("path", default=f"demo/{LOG_NAME}", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rows", default=DEFAULT_ROWS, show_default=True, type=click.IntRange(min=1), help="Exchanges.")
@click.option(
    "--days",
    default=DEFAULT_DAYS,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many days, up to now, the conversations span.",
)
@click.option(
    "--seed",
    default=1,
    show_default=True,
    help="Another seed, other people and conversations (their times always end now).",
)
def demo(path: Path, rows: int, days: int, seed: int) -> None:
    """Write a sample log of made-up conversations to PATH, a new DIR/conversation_logs.db (then: make web DB=PATH)."""
    if path.name != LOG_NAME:
        raise click.ClickException(
            f"{path}: the web serves a log only under the name {LOG_NAME}; give PATH as DIR/{LOG_NAME}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Imported here: the sample's texts come from the core's responder, which brings anthropic (and aiohttp):
    # every other CLI command would pay for it at start (BENCHMARKS.md, 2026-11-30: 182 MB for --help).
    from bot.demo.build import write

    try:
        written = write(path, rows, seed=seed, days=days)
    except StoreError as err:
        raise click.ClickException(str(err)) from None
    click.echo(
        f"{path}: {written.rows:,} exchanges and {written.ratings:,} ratings in {written.seconds:.1f} s; "
        f"see them with: make web DB={path}"
    )
