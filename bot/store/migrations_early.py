"""The log's first migrations, m001-m010: the original table, its analysis columns, search and the summaries.

They hold the Migrations object; migrations.py imports it from here and appends the later ones after these,
so sqlite-migrate applies all of them in declaration order.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

from bot.store.summaries import (
    facet_counts_migration_sql,
    stats_migration_sql,
    tenancy_migration_sql,
)

TABLE = "conversations"
ADDED_COLUMNS = {
    "guild_id": str,
    "display_name": str,
    "message_id": str,
    "input_tokens": int,
    "output_tokens": int,
    "latency_ms": int,
    "conversation_id": str,
}

migrations = Migrations("conversation_log")


@migrations()
def m001_conversations(db: Database) -> None:
    # IF NOT EXISTS adopts a database made by the original conversation_logger.py.
    db.execute(
        """CREATE TABLE IF NOT EXISTS conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            user_name TEXT,
            channel_id TEXT,
            user_message TEXT,
            bot_response TEXT,
            timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
            tokens_used INTEGER DEFAULT 0,
            model_used TEXT
        )"""
    )


@migrations()
def m002_analysis_columns(db: Database) -> None:
    table = db.table(TABLE)
    for name, kind in ADDED_COLUMNS.items():
        if name not in table.columns_dict:
            table.add_column(name, kind)


@migrations()
def m003_indexes(db: Database) -> None:
    table = db.table(TABLE)
    table.create_index(["message_id"], unique=True, if_not_exists=True)
    table.create_index(["timestamp"], if_not_exists=True)
    table.create_index(["model_used"], if_not_exists=True)
    table.create_index(["user_id", "timestamp"], if_not_exists=True)
    # NOCASE so the web's user_history finds "Alice" for "alice" through the index.
    for column in ("user_name", "display_name"):
        db.execute(
            f"CREATE INDEX IF NOT EXISTS idx_conversations_{column}_nocase "
            f"ON conversations ({column} COLLATE NOCASE, timestamp)"
        )


@migrations()
def m004_full_text_search(db: Database) -> None:
    # Triggers keep the index current on insert, update and delete, so Datasette's search box works.
    db.table(TABLE).enable_fts(["user_message", "bot_response"], create_triggers=True)


@migrations()
def m005_opt_outs(db: Database) -> None:
    db.table("opt_outs").create({"user_id": str, "opted_out_at": str}, pk="user_id")


@migrations()
def m006_ratings_and_threads(db: Database) -> None:
    # The bot's reply message id, so a 👍/👎 on it finds its exchange.
    db.table(TABLE).add_column("reply_message_id", str)
    db.table(TABLE).create_index(["reply_message_id"], if_not_exists=True)
    db.table(TABLE).create_index(["conversation_id", "timestamp"], if_not_exists=True)
    db.table("ratings").create(
        {"reply_message_id": str, "rater_id": str, "value": int, "rated_at": str},
        pk=("reply_message_id", "rater_id"),
    )


@migrations()
def m007_stats_summary(db: Database) -> None:
    """Totals kept by triggers, so !stats reads a few rows instead of scanning a million."""
    db.executescript(stats_migration_sql())


@migrations()
def m008_facet_counts(db: Database) -> None:
    """Counts behind the Datasette table page's facets, which would otherwise each scan every row."""
    db.executescript(facet_counts_migration_sql())


@migrations()
def m009_facet_filter_indexes(db: Database) -> None:
    # A click on a user_name or channel_id facet filters with `=`, which the NOCASE index cannot serve.
    for column in ("user_name", "channel_id"):
        db.table(TABLE).create_index([column], if_not_exists=True)


@migrations()
def m010_tenancy(db: Database) -> None:
    """Per-server names (a server admin's `!history alice` resolves within the server) and model counts
    (a server's !stats reads a few rows), kept by triggers."""
    db.executescript(tenancy_migration_sql())
