"""Reading the log files the tests write, and the numbered exchanges the store's tests log."""

from __future__ import annotations

from sqlite_utils import Database

from bot.config.settings import Settings
from bot.store import Exchange


def log_rows_at(path) -> list[dict]:
    """Every row of the log file at `path`, in id order."""
    with Database(path) as db:
        return list(db["conversations"].rows_where(order_by="id"))


def log_rows(settings: Settings) -> list[dict]:
    return log_rows_at(settings.log_db)


def exchange(n: int, **changes) -> Exchange:
    """Exchange number `n` for the store's own tests; `changes` override any field."""
    # Three servers and DMs (guild None), and display names that two users share.
    values = {
        "user_id": f"u{n % 5}",
        "user_name": f"user{n % 5}",
        "channel_id": "c1",
        "user_message": f"q{n}",
        "bot_response": f"a{n}",
        "model_used": "claude-haiku-4-5",
        "message_id": f"m{n}",
        "input_tokens": 3,
        "output_tokens": 4,
        "guild_id": [None, "g1", "g2", "g3"][n % 4],
        "display_name": f"Shared {n % 2}",
    }
    return Exchange(**{**values, **changes})


SMALL_LOG_ROWS = 20


def memory_turns(settings, user_id: str) -> int:
    with Database(settings.memory_db) as db:
        return db.execute("select count(*) from turns where user_id = ?", [user_id]).fetchone()[0]
