"""View the conversation log in the terminal: the stats and the most recent exchanges (a message and its reply).

python view_database.py              # last 20 exchanges
python view_database.py -n 50 --user alice
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bot.config.settings import Settings
from bot.core.formatting import stats_lines, truncate
from bot.store import ConversationLog


def stats_table(figures: dict[str, Any]) -> Table:
    table = Table(title="Conversation log statistics", show_header=False)
    for label, value in stats_lines(figures):
        table.add_row(label, value)
    return table


def exchanges_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, show_lines=True)
    for name in ("id", "timestamp (UTC)", "user", "user message", "bot response", "tokens", "model"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["timestamp"],
            row["user_name"],
            truncate(row["user_message"], 200),
            truncate(row["bot_response"], 300),
            str(row["tokens_used"]),
            row["model_used"],
        )
    return table


@click.command()
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Log database (default: CONVERSATION_LOG_DB or ./conversation_logs.db).",
)
@click.option("-n", "--limit", default=20, show_default=True, help="How many exchanges to show.")
@click.option("--user", help="Only this user (id, user name or display name).")
def main(db_path: Path | None, limit: int, user: str | None) -> None:
    """Show the stats and the most recent exchanges."""
    path = db_path or Settings.from_env().log_db
    if not path.exists():
        raise click.ClickException(f"{path} does not exist yet: it is created when the bot logs its first exchange.")
    store = ConversationLog(path)
    rows = store.user_history(user, limit) if user else store.latest(limit)
    console = Console()
    console.print(stats_table(store.stats()))
    console.print(exchanges_table(rows, f"Last {len(rows)} exchanges" + (f" of {user}" if user else "")))


if __name__ == "__main__":
    main()
