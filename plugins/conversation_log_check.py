"""Startup check: refuse to serve a conversation log that Datasette would serve wrongly.

Config (metadata.yml, plugins.conversation-log): `database`, `table`, `require_login`, `public`.
Every problem stops `datasette serve` with one clear line.
"""

from __future__ import annotations

import click
from datasette import hookimpl

SPEC_COLUMNS = {"id", "user_id", "user_name", "channel_id", "user_message", "bot_response",
                "timestamp", "tokens_used", "model_used"}


def enabled(value) -> bool:
    return str(value or "").strip().lower() in {"1", "true", "yes", "on"}


def login_problem(config: dict, password_hash: str | None) -> str | None:
    if enabled(config.get("require_login")) and not enabled(config.get("public")) and not password_hash:
        return ("DATASETTE_PASSWORD_HASH is not set, and this Datasette listens on every interface: it would show "
                "every logged message to anyone. Make a hash with `datasette hash-password` and set "
                "DATASETTE_PASSWORD_HASH, or set DATASETTE_PUBLIC=1 to publish the log without a login.")
    return None


async def database_problem(datasette, name: str, table: str) -> str | None:
    if name not in datasette.databases:
        return f"no database named {name!r} is served: serve the bot's {name}.db file."
    db = datasette.databases[name]
    if not db.is_mutable:
        return f"{db.path} is served immutable (-i): new rows would not appear. Serve it as a normal file."
    mode = (await db.execute("pragma journal_mode")).first()[0]
    if mode != "wal":
        return (f"{db.path} is not in WAL mode (journal_mode={mode}), so reading it would block the bot's "
                f"writes. Start the bot once, which converts it, or run: sqlite-utils enable-wal {db.path}")
    if not await db.table_exists(table):
        return f"{db.path} has no {table!r} table: is this the bot's conversation log?"
    missing = SPEC_COLUMNS - set(await db.table_columns(table))
    if missing:
        return f"{db.path} table {table!r} lacks the columns {', '.join(sorted(missing))}."
    return None


@hookimpl
def startup(datasette):
    config = datasette.plugin_config("conversation-log") or {}
    password_hash = (datasette.plugin_config("datasette-auth-passwords") or {}).get("admin_password_hash")

    async def check() -> None:
        problem = login_problem(config, password_hash) or await database_problem(
            datasette, config.get("database", "conversation_logs"), config.get("table", "conversations"))
        if problem:
            raise click.ClickException(f"conversation-log: {problem}")

    return check
