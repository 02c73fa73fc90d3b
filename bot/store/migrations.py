"""The log's migrations in order, one small function each; schema.py applies them.

The SQL of the summary triggers is built in triggers.py, and of the usage summaries in usage.py.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

from bot.store.triggers import (
    FACET_COLUMNS,
    RATING_OWNER,
    RATINGS_WITH_REPLY_GONE,
    RATINGS_WITH_REPLY_MOVED,
    SCORE_ADD,
    SCORE_CHANGE,
    SCORE_MOVED,
    SCORE_REMOVE,
    STATS_ADD,
    STATS_REMOVE,
    facet_counts_sql,
    rating_totals_sql,
    tenancy_add_sql,
    tenancy_remove_sql,
    user_models_sql,
)
from bot.store.usage import migration_sql as usage_migration_sql
from bot.store.usage import user_usage_migration_sql

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
    table = db[TABLE]
    for name, kind in ADDED_COLUMNS.items():
        if name not in table.columns_dict:
            table.add_column(name, kind)


@migrations()
def m003_indexes(db: Database) -> None:
    table = db[TABLE]
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
    db[TABLE].enable_fts(["user_message", "bot_response"], create_triggers=True)


@migrations()
def m005_opt_outs(db: Database) -> None:
    db["opt_outs"].create({"user_id": str, "opted_out_at": str}, pk="user_id")


@migrations()
def m006_ratings_and_threads(db: Database) -> None:
    # The bot's reply message id, so a 👍/👎 on it finds its exchange.
    db[TABLE].add_column("reply_message_id", str)
    db[TABLE].create_index(["reply_message_id"], if_not_exists=True)
    db[TABLE].create_index(["conversation_id", "timestamp"], if_not_exists=True)
    db["ratings"].create(
        {"reply_message_id": str, "rater_id": str, "value": int, "rated_at": str},
        pk=("reply_message_id", "rater_id"),
    )


@migrations()
def m007_stats_summary(db: Database) -> None:
    """Totals kept by triggers, so !stats reads a few rows instead of scanning a million."""
    db.executescript(f"""
    CREATE TABLE stats_totals (id INTEGER PRIMARY KEY CHECK (id = 1), conversations INTEGER NOT NULL,
                               tokens INTEGER NOT NULL);
    CREATE TABLE stats_users (user_id TEXT PRIMARY KEY, conversations INTEGER NOT NULL);
    CREATE TABLE stats_models (model_used TEXT NOT NULL PRIMARY KEY, conversations INTEGER NOT NULL,
                               tokens INTEGER NOT NULL);
    INSERT INTO stats_totals SELECT 1, count(*), coalesce(sum(tokens_used), 0) FROM conversations;
    INSERT INTO stats_users SELECT user_id, count(*) FROM conversations GROUP BY user_id;
    INSERT INTO stats_models SELECT ifnull(model_used, ''), count(*), coalesce(sum(tokens_used), 0)
      FROM conversations GROUP BY ifnull(model_used, '');
    CREATE TRIGGER stats_after_insert AFTER INSERT ON conversations BEGIN {STATS_ADD} END;
    CREATE TRIGGER stats_after_delete AFTER DELETE ON conversations BEGIN {STATS_REMOVE} END;
    CREATE TRIGGER stats_after_update AFTER UPDATE OF user_id, model_used, tokens_used ON conversations
      BEGIN {STATS_REMOVE} {STATS_ADD} END;
    """)


@migrations()
def m008_facet_counts(db: Database) -> None:
    """Counts behind the Datasette table page's facets, which would otherwise each scan every row."""
    backfill = "".join(
        f"INSERT INTO facet_counts SELECT '{column}', {column}, count(*) FROM conversations "
        f"WHERE {column} IS NOT NULL GROUP BY {column};\n"
        for column in FACET_COLUMNS
    )
    db.executescript(f"""
    -- value has no declared type, so each keeps the type it has in conversations.
    CREATE TABLE facet_counts (facet TEXT NOT NULL, value NOT NULL, conversations INTEGER NOT NULL,
                               PRIMARY KEY (facet, value)) WITHOUT ROWID;
    {backfill}
    CREATE TRIGGER facet_counts_after_insert AFTER INSERT ON conversations BEGIN {facet_counts_sql("new", 1)} END;
    CREATE TRIGGER facet_counts_after_delete AFTER DELETE ON conversations BEGIN {facet_counts_sql("old", -1)} END;
    CREATE TRIGGER facet_counts_after_update AFTER UPDATE OF {", ".join(FACET_COLUMNS)} ON conversations
      BEGIN {facet_counts_sql("old", -1)} {facet_counts_sql("new", 1)} END;
    """)


@migrations()
def m009_facet_filter_indexes(db: Database) -> None:
    # A click on a user_name or channel_id facet filters with `=`, which the NOCASE index cannot serve.
    for column in ("user_name", "channel_id"):
        db[TABLE].create_index([column], if_not_exists=True)


@migrations()
def m010_tenancy(db: Database) -> None:
    """Per-server names (an admin's `!history alice` resolves within the server) and model counts
    (a server's !stats reads a few rows), kept by triggers."""
    db.executescript(f"""
    CREATE TABLE user_names (guild_key TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, user_id TEXT NOT NULL,
                             PRIMARY KEY (name, guild_key, user_id)) WITHOUT ROWID;
    CREATE INDEX user_names_by_server ON user_names (guild_key, user_id);
    CREATE INDEX user_names_by_user ON user_names (user_id, guild_key);
    CREATE TABLE stats_guild_models (guild_key TEXT NOT NULL, model_used TEXT NOT NULL,
                                     conversations INTEGER NOT NULL, tokens INTEGER NOT NULL,
                                     PRIMARY KEY (guild_key, model_used)) WITHOUT ROWID;
    INSERT OR IGNORE INTO user_names SELECT ifnull(guild_id, ''), ifnull(user_name, ''), user_id FROM conversations;
    INSERT OR IGNORE INTO user_names SELECT ifnull(guild_id, ''), display_name, user_id FROM conversations
      WHERE display_name IS NOT NULL;
    INSERT INTO stats_guild_models SELECT ifnull(guild_id, ''), ifnull(model_used, ''), count(*),
      coalesce(sum(tokens_used), 0) FROM conversations GROUP BY 1, 2;
    CREATE TRIGGER tenancy_after_insert AFTER INSERT ON conversations BEGIN {tenancy_add_sql("new")} END;
    CREATE TRIGGER tenancy_after_delete AFTER DELETE ON conversations BEGIN {tenancy_remove_sql("old")} END;
    CREATE TRIGGER tenancy_after_update
      AFTER UPDATE OF user_id, user_name, display_name, guild_id, model_used, tokens_used ON conversations
      BEGIN {tenancy_remove_sql("old")} {tenancy_add_sql("new")} END;
    """)


@migrations()
def m011_attachments(db: Database) -> None:
    """What a user attached (JSON: name, type, size, URL, and whether Claude saw it; never the bytes),
    and the bot reply a message answered, so a reply chain can be followed back through the log."""
    db[TABLE].add_column("attachments", str)
    db[TABLE].add_column("reply_to_message_id", str)


@migrations()
def m012_model_prices(db: Database) -> None:
    """Dated model prices, and per-day summaries (tokens by model and server, users, hours, latency)
    kept by triggers, so costs and the dashboard read days instead of rows (bot/store/usage.py)."""
    db.executescript(usage_migration_sql())


@migrations()
def m013_user_models(db: Database) -> None:
    """Per-user model counts, so !stats in a DM reads a few rows even for a user with half the log."""
    db.executescript(f"""
    CREATE TABLE stats_user_models (user_id TEXT NOT NULL, model_used TEXT NOT NULL,
                                    conversations INTEGER NOT NULL, tokens INTEGER NOT NULL,
                                    PRIMARY KEY (user_id, model_used)) WITHOUT ROWID;
    INSERT INTO stats_user_models SELECT user_id, ifnull(model_used, ''), count(*), coalesce(sum(tokens_used), 0)
      FROM conversations GROUP BY 1, 2;
    CREATE TRIGGER user_models_after_insert AFTER INSERT ON conversations BEGIN {user_models_sql("new", 1)} END;
    CREATE TRIGGER user_models_after_delete AFTER DELETE ON conversations BEGIN {user_models_sql("old", -1)} END;
    CREATE TRIGGER user_models_after_update AFTER UPDATE OF user_id, model_used, tokens_used ON conversations
      BEGIN {user_models_sql("old", -1)} {user_models_sql("new", 1)} END;
    """)


@migrations()
def m014_rating_owners(db: Database) -> None:
    """Ratings say whose reply they rate and in which server (the counts of a DM's or a server's !stats
    become index lookups), and leave with their reply. Ratings of replies already gone are dropped."""
    db.executescript(f"""
    ALTER TABLE ratings ADD COLUMN asker_id TEXT;
    ALTER TABLE ratings ADD COLUMN guild_key TEXT;
    UPDATE ratings SET
      asker_id = (SELECT user_id FROM conversations c WHERE c.reply_message_id = ratings.reply_message_id),
      guild_key = (SELECT ifnull(guild_id, '') FROM conversations c WHERE c.reply_message_id = ratings.reply_message_id);
    DELETE FROM ratings WHERE asker_id IS NULL;
    CREATE INDEX ratings_by_asker ON ratings (asker_id, reply_message_id);
    CREATE INDEX ratings_by_server ON ratings (guild_key, reply_message_id);
    CREATE TRIGGER rating_owner_after_insert AFTER INSERT ON ratings BEGIN {RATING_OWNER} END;
    CREATE TRIGGER ratings_after_reply_delete AFTER DELETE ON conversations
      WHEN old.reply_message_id IS NOT NULL BEGIN {RATINGS_WITH_REPLY_GONE} END;
    CREATE TRIGGER ratings_after_reply_update AFTER UPDATE OF user_id, guild_id ON conversations
      WHEN new.reply_message_id IS NOT NULL BEGIN {RATINGS_WITH_REPLY_MOVED} END;
    """)


@migrations()
def m015_user_usage(db: Database) -> None:
    """One user's tokens per day, server and model, so a DM's !stats prices them without their rows."""
    db.executescript(user_usage_migration_sql())


@migrations()
def m016_rating_totals(db: Database) -> None:
    """Each rated reply's net score, and the rating counts of !stats per scope (every row, a server, a
    user), kept by triggers: the counts stop growing with the number of ratings. Filled from the ratings."""
    db.executescript(f"""
    CREATE TABLE rating_scores (reply_message_id TEXT PRIMARY KEY, asker_id TEXT, guild_key TEXT,
                                score INTEGER NOT NULL, raters INTEGER NOT NULL);
    CREATE TABLE rating_totals (scope TEXT NOT NULL, key TEXT NOT NULL, rated INTEGER NOT NULL,
                                up INTEGER NOT NULL, PRIMARY KEY (scope, key)) WITHOUT ROWID;
    CREATE TRIGGER rating_totals_after_insert AFTER INSERT ON rating_scores BEGIN {rating_totals_sql("new", 1)} END;
    CREATE TRIGGER rating_totals_after_delete AFTER DELETE ON rating_scores BEGIN {rating_totals_sql("old", -1)} END;
    CREATE TRIGGER rating_totals_after_update AFTER UPDATE ON rating_scores
      BEGIN {rating_totals_sql("old", -1)} {rating_totals_sql("new", 1)} END;
    INSERT INTO rating_scores SELECT reply_message_id, max(asker_id), max(guild_key), sum(value), count(*)
      FROM ratings GROUP BY reply_message_id;
    CREATE TRIGGER rating_scores_after_insert AFTER INSERT ON ratings BEGIN {SCORE_ADD} END;
    CREATE TRIGGER rating_scores_after_delete AFTER DELETE ON ratings BEGIN {SCORE_REMOVE} END;
    CREATE TRIGGER rating_scores_after_update AFTER UPDATE OF value ON ratings BEGIN {SCORE_CHANGE} END;
    CREATE TRIGGER rating_scores_after_reply_update AFTER UPDATE OF user_id, guild_id ON conversations
      WHEN new.reply_message_id IS NOT NULL BEGIN {SCORE_MOVED} END;
    """)


@migrations()
def m017_stop_reason(db: Database) -> None:
    """Claude's reason for ending each reply (end_turn, max_tokens, refusal, ...), so a reply cut at the
    length limit or refused is told from a whole one; NULL where Claude gave none (the static fallback,
    a stream that broke off, rows logged before this column)."""
    db.execute(f"ALTER TABLE {TABLE} ADD COLUMN stop_reason TEXT")


@migrations()
def m019_memory_forgets(db: Database) -> None:
    """When a user's memory was forgotten (everywhere, or in one channel), so that every process drops
    those turns from its own bot_memory.db (bot/store/privacy.py); kept MARKS_KEEP_S (a day)."""
    db.executescript("""
    CREATE TABLE memory_forgets (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, channel_id TEXT,
                                 everywhere INTEGER NOT NULL CHECK (everywhere = (channel_id IS NULL)),
                                 forgotten_at REAL NOT NULL);
    CREATE INDEX memory_forgets_user ON memory_forgets (user_id, forgotten_at);
    CREATE INDEX memory_forgets_at ON memory_forgets (forgotten_at);
    """)
