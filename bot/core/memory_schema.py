"""The memory file's schema (`bot_memory.db`): one table of turns, and its migrations in order."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("bot_memory")


@migrations()
def m001_turns(db: Database) -> None:
    db.table("turns").create(
        {
            "id": int,
            "channel_id": str,
            "user_id": str,
            "conversation_id": str,
            "role": str,
            "content": str,
            "created_at": float,
        },
        pk="id",
        not_null={"channel_id", "user_id", "conversation_id", "role", "content", "created_at"},
    )
    db.table("turns").create_index(["channel_id", "user_id", "id"])


@migrations()
def m002_expiry_index(db: Database) -> None:
    db.table("turns").create_index(["created_at"])  # dropping every expired turn on each use reads only those


@migrations()
def m003_message_ids(db: Database) -> None:
    # The log's message id of each turn's exchange, so the log can name the turns sent as context
    # (bot/store/request_record.py). Turns remembered before this have none and are not context again:
    # at most one time-to-live (BOT_MEMORY_TTL_MINUTES, 60 by default) of memory after the upgrade.
    db.table("turns").add_column("message_id", str)
