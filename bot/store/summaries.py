"""The SQL of the migrations that add a summary table: the table, its backfill from the log, and the
triggers that keep it equal to the log (their statements are built in triggers.py).
"""

from __future__ import annotations

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


def stats_migration_sql() -> str:
    """m007: the !stats totals, per user and per model."""
    return f"""
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
    """


def facet_counts_migration_sql() -> str:
    """m008: the counts behind Datasette's facets."""
    backfill = "".join(
        f"INSERT INTO facet_counts SELECT '{column}', {column}, count(*) FROM conversations "
        f"WHERE {column} IS NOT NULL GROUP BY {column};\n"
        for column in FACET_COLUMNS
    )
    return f"""
    -- value has no declared type, so each keeps the type it has in conversations.
    CREATE TABLE facet_counts (facet TEXT NOT NULL, value NOT NULL, conversations INTEGER NOT NULL,
                               PRIMARY KEY (facet, value)) WITHOUT ROWID;
    {backfill}
    CREATE TRIGGER facet_counts_after_insert AFTER INSERT ON conversations BEGIN {facet_counts_sql("new", 1)} END;
    CREATE TRIGGER facet_counts_after_delete AFTER DELETE ON conversations BEGIN {facet_counts_sql("old", -1)} END;
    CREATE TRIGGER facet_counts_after_update AFTER UPDATE OF {", ".join(FACET_COLUMNS)} ON conversations
      BEGIN {facet_counts_sql("old", -1)} {facet_counts_sql("new", 1)} END;
    """


def tenancy_migration_sql() -> str:
    """m010: per-server names and model counts."""
    return f"""
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
    """


def user_models_migration_sql() -> str:
    """m013: per-user model counts."""
    return f"""
    CREATE TABLE stats_user_models (user_id TEXT NOT NULL, model_used TEXT NOT NULL,
                                    conversations INTEGER NOT NULL, tokens INTEGER NOT NULL,
                                    PRIMARY KEY (user_id, model_used)) WITHOUT ROWID;
    INSERT INTO stats_user_models SELECT user_id, ifnull(model_used, ''), count(*), coalesce(sum(tokens_used), 0)
      FROM conversations GROUP BY 1, 2;
    CREATE TRIGGER user_models_after_insert AFTER INSERT ON conversations BEGIN {user_models_sql("new", 1)} END;
    CREATE TRIGGER user_models_after_delete AFTER DELETE ON conversations BEGIN {user_models_sql("old", -1)} END;
    CREATE TRIGGER user_models_after_update AFTER UPDATE OF user_id, model_used, tokens_used ON conversations
      BEGIN {user_models_sql("old", -1)} {user_models_sql("new", 1)} END;
    """


def rating_owners_migration_sql() -> str:
    """m014: whose reply each rating rates, and in which server."""
    return f"""
    ALTER TABLE ratings ADD COLUMN asker_id TEXT;
    ALTER TABLE ratings ADD COLUMN guild_key TEXT;
    UPDATE ratings SET
      asker_id = (SELECT user_id FROM conversations c WHERE c.reply_message_id = ratings.reply_message_id),
      guild_key = (SELECT ifnull(guild_id, '') FROM conversations c
                   WHERE c.reply_message_id = ratings.reply_message_id);
    DELETE FROM ratings WHERE asker_id IS NULL;
    CREATE INDEX ratings_by_asker ON ratings (asker_id, reply_message_id);
    CREATE INDEX ratings_by_server ON ratings (guild_key, reply_message_id);
    CREATE TRIGGER rating_owner_after_insert AFTER INSERT ON ratings BEGIN {RATING_OWNER} END;
    CREATE TRIGGER ratings_after_reply_delete AFTER DELETE ON conversations
      WHEN old.reply_message_id IS NOT NULL BEGIN {RATINGS_WITH_REPLY_GONE} END;
    CREATE TRIGGER ratings_after_reply_update AFTER UPDATE OF user_id, guild_id ON conversations
      WHEN new.reply_message_id IS NOT NULL BEGIN {RATINGS_WITH_REPLY_MOVED} END;
    """


def rating_totals_migration_sql() -> str:
    """m016: each rated reply's net score, and the rating counts per scope."""
    return f"""
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
    """
