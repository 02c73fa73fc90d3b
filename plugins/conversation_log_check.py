"""Startup check: refuse to serve a conversation log that Datasette would serve wrongly.

Config (metadata.yml, plugins.conversation-log): `database`, `table`, `require_login`, `public`; and the
admin's password hash (plugins.datasette-auth-passwords), refused when malformed or of an empty password.
Every problem stops `datasette serve` with one clear line.
"""

from __future__ import annotations

import base64
import binascii
import re

import click
from datasette import hookimpl
from datasette_auth_passwords.utils import verify_password

SPEC_COLUMNS = {
    "id",
    "user_id",
    "user_name",
    "channel_id",
    "user_message",
    "bot_response",
    "timestamp",
    "tokens_used",
    "model_used",
}
# What `datasette hash-password` prints: pbkdf2_sha256$iterations$salt$base64 of a 32-byte digest.
HASH_FORMAT = re.compile(r"pbkdf2_sha256\$([1-9][0-9]*)\$([^$]+)\$([A-Za-z0-9+/]+={0,2})")
DIGEST_BYTES = 32
# Checking the hash costs its iteration count once at start-up: a typo of a few digits too many would hang it.
MAX_ITERATIONS = 10_000_000


def enabled(value) -> bool:
    return str(value or "").strip().lower() in {"1", "true", "yes", "on"}


def login_problem(config: dict, password_hash: str | None) -> str | None:
    if enabled(config.get("require_login")) and not enabled(config.get("public")) and not password_hash:
        return (
            "DATASETTE_PASSWORD_HASH is not set, and this Datasette listens on every interface: it would show "
            "every logged message to anyone. Make a hash with `datasette hash-password` and set "
            "DATASETTE_PASSWORD_HASH, or set DATASETTE_PUBLIC=1 to publish the log without a login."
        )
    return None


def password_hash_problem(password_hash: str | None) -> str | None:
    """A hash the login would accept with an empty password, or not at all."""
    if not password_hash:
        return None
    match = HASH_FORMAT.fullmatch(password_hash.strip())
    try:
        well_formed = match is not None and len(base64.b64decode(match[3], validate=True)) == DIGEST_BYTES
    except binascii.Error:
        well_formed = False
    if match is None or not well_formed or int(match[1]) > MAX_ITERATIONS:
        return (
            "DATASETTE_PASSWORD_HASH is not a hash made by `datasette hash-password` "
            "(pbkdf2_sha256$iterations$salt$digest): make one with `datasette hash-password`."
        )
    if verify_password("", password_hash):
        return (
            "DATASETTE_PASSWORD_HASH is the hash of an empty password (`datasette hash-password --no-confirm` "
            "hashes standard input): make one with `datasette hash-password` and type a password."
        )
    return None


async def database_problem(datasette, name: str, table: str) -> str | None:
    if name not in datasette.databases:
        return f"no database named {name!r} is served: serve the bot's {name}.db file."
    db = datasette.databases[name]
    if not db.is_mutable:
        return f"{db.path} is served immutable (-i): new rows would not appear. Serve it as a normal file."
    mode = (await db.execute("pragma journal_mode")).first()[0]
    if mode != "wal":
        return (
            f"{db.path} is not in WAL mode (journal_mode={mode}), so reading it would block the bot's "
            f"writes. Start the bot once, which converts it, or run: sqlite-utils enable-wal {db.path}"
        )
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
        problem = login_problem(config, password_hash) or password_hash_problem(password_hash)
        problem = problem or await database_problem(
            datasette, config.get("database", "conversation_logs"), config.get("table", "conversations")
        )
        if problem:
            raise click.ClickException(f"conversation-log: {problem}")

    return check
