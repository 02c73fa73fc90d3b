"""What the commands share: the settings loader in `ctx.obj`, and `--db` on the data commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click

from bot.config.settings import Settings

# ctx.obj: reads the settings (once) when a command runs, so `--help` works whatever `.env` holds.
Loader = Callable[[], Settings]

db_option = click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The conversation log to use instead of CONVERSATION_LOG_DB (default ./conversation_logs.db).",
)


def settings_with_db(load: Loader, db: Path | None) -> Settings:
    """The settings, with `--db` in place of CONVERSATION_LOG_DB when given."""
    settings = load()
    return settings if db is None else replace(settings, log_db=db)
