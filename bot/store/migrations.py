"""The log's migrations in order, one small function each; schema.py applies them.

The first ten (m001-m010) live in migrations_early.py, which holds the Migrations object; importing it
first registers them before the ones below, so the declaration order is the order they are applied in.

The SQL of the summary tables is built in summaries.py (their triggers' statements in triggers.py),
and of the usage summaries in usage.py.
"""

from __future__ import annotations

from sqlite_utils import Database

from bot.store.daily import daily_migration_sql
from bot.store.migrations_early import TABLE, migrations
from bot.store.summaries import (
    rating_owners_migration_sql,
    rating_totals_migration_sql,
    user_models_migration_sql,
)
from bot.store.usage import cache_migration_sql, user_usage_migration_sql
from bot.store.usage import migration_sql as usage_migration_sql

__all__ = ["TABLE", "UNPLACED", "migrations"]
UNPLACED = "unplaced_rows"  # the original bot's rows whose server is not known yet (m020)


@migrations()
def m011_attachments(db: Database) -> None:
    """What a user attached (JSON: name, type, size, URL, and whether Claude saw it; never the bytes),
    and the bot reply a message answered, so a reply chain can be followed back through the log."""
    db.table(TABLE).add_column("attachments", str)
    db.table(TABLE).add_column("reply_to_message_id", str)


@migrations()
def m012_model_prices(db: Database) -> None:
    """Dated model prices, and per-day summaries (tokens by model and server, users, hours, latency)
    kept by triggers, so costs and the dashboard read days instead of rows (bot/store/usage.py)."""
    db.executescript(usage_migration_sql())


@migrations()
def m013_user_models(db: Database) -> None:
    """Per-user model counts, so !stats in a DM reads a few rows even for a user with half the log."""
    db.executescript(user_models_migration_sql())


@migrations()
def m014_rating_owners(db: Database) -> None:
    """Ratings say whose reply they rate and in which server (the counts of a DM's or a server's !stats
    become index lookups), and leave with their reply. Ratings of replies already gone are dropped."""
    db.executescript(rating_owners_migration_sql())


@migrations()
def m015_user_usage(db: Database) -> None:
    """One user's tokens per day, server and model, so a DM's !stats prices them without their rows."""
    db.executescript(user_usage_migration_sql())


@migrations()
def m016_rating_totals(db: Database) -> None:
    """Each rated reply's net score, and the rating counts of !stats per scope (every row, a server, a
    user), kept by triggers: the counts stop growing with the number of ratings. Filled from the ratings."""
    db.executescript(rating_totals_migration_sql())


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


@migrations()
def m020_unplaced_rows(db: Database) -> None:
    """The original bot's rows (no server, no message id: its table had neither column), listed as
    unplaced: where they were said, a server or a DM, is not known yet (bot/store/adoption.py fills it
    from their channel). A row leaves the list once placed, or when it is deleted."""
    db.executescript(f"""
    CREATE TABLE {UNPLACED} (id INTEGER PRIMARY KEY, channel_id TEXT);
    CREATE INDEX {UNPLACED}_by_channel ON {UNPLACED} (channel_id, id);
    INSERT INTO {UNPLACED} SELECT id, channel_id FROM {TABLE} WHERE guild_id IS NULL AND message_id IS NULL;
    CREATE TRIGGER {UNPLACED}_after_delete AFTER DELETE ON {TABLE} BEGIN
      DELETE FROM {UNPLACED} WHERE id = old.id;
    END;
    """)


# sqlite-utils' update trigger for the search index (enable_fts), with its event narrowed to the indexed text.
SEARCH_UPDATE_TRIGGER = f"""CREATE TRIGGER "{TABLE}_au" AFTER UPDATE OF user_message, bot_response ON "{TABLE}" BEGIN
  INSERT INTO "{TABLE}_fts" ("{TABLE}_fts", rowid, "user_message", "bot_response")
    VALUES('delete', old.rowid, old."user_message", old."bot_response");
  INSERT INTO "{TABLE}_fts" (rowid, "user_message", "bot_response")
    VALUES (new.rowid, new."user_message", new."bot_response");
END"""


@migrations()
def m020b_search_index_on_text_updates(db: Database) -> None:
    """sqlite-utils' update trigger re-indexed a row's words on ANY update (a reply id, a server filled
    in by the adoption); it now fires only when the indexed text changes. Made whole, not edited: a bulk
    writer (bot/demo/build.py) may have dropped the search triggers while this runs."""
    db.execute(f'DROP TRIGGER IF EXISTS "{TABLE}_au"')
    db.execute(SEARCH_UPDATE_TRIGGER)


@migrations()
def m021_system_prompts(db: Database) -> None:
    """The system prompt, once per version (keyed by the SHA-256 of its text), and the version each
    exchange was answered with. Rows logged before this say `request_state = 'unknown'` (m022)."""
    db.executescript(f"""
    CREATE TABLE system_prompts (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, text TEXT NOT NULL,
                                 first_used TEXT NOT NULL, last_used TEXT NOT NULL);
    ALTER TABLE {TABLE} ADD COLUMN system_prompt_id INTEGER REFERENCES system_prompts (id);
    """)


@migrations()
def m022_request_record(db: Database) -> None:
    """The rest of each exchange's request (bot/store/request_record.py): its state, an explicit value
    ('unknown' for every row logged before, with no rewrite: the default is the ALTER's), the model
    asked for, max_tokens, Anthropic's message and request ids, the context's exchanges by message id, and
    whether the user's text was masked (BOT_REDACT) before it was logged. NULL in these unless recorded."""
    db.executescript(f"""
    ALTER TABLE {TABLE} ADD COLUMN request_state TEXT NOT NULL DEFAULT 'unknown'
        CHECK (request_state IN ('recorded', 'unknown', 'not_sent'));
    ALTER TABLE {TABLE} ADD COLUMN model_requested TEXT;
    ALTER TABLE {TABLE} ADD COLUMN max_tokens INTEGER;
    ALTER TABLE {TABLE} ADD COLUMN anthropic_message_id TEXT;
    ALTER TABLE {TABLE} ADD COLUMN request_id TEXT;
    ALTER TABLE {TABLE} ADD COLUMN context_message_ids TEXT;
    ALTER TABLE {TABLE} ADD COLUMN request_masked INTEGER;
    """)


@migrations()
def m023_prompt_cache(db: Database) -> None:
    """The prompt cache's tokens per row (written and read, apart from input_tokens) counted in the per-day
    usage summaries, and the cache write and read prices of each model (bot/store/usage.py)."""
    db.executescript(cache_migration_sql())


@migrations()
def m024_daily_totals(db: Database) -> None:
    """Each day's conversations and tokens (tokens_used), kept by triggers, so daily_activity reads days
    instead of rows (bot/store/daily.py); an index on (guild_id, timestamp) for the search's server field, and
    one on rating_scores' score for rated_replies."""
    db.executescript(daily_migration_sql())


@migrations()
def m025_attachment_refs(db: Database) -> None:
    """Which rows refer to each kept file's bytes, by SHA-256 (bot/store/blobs.py): an index lookup tells
    whether a forget or retention left a file unreferenced, where a scan of the attachments JSON would read
    the whole table (1.7 GB at 1M rows) at each delete. Triggers keep it; rows logged before are read once."""
    db.executescript(f"""
    CREATE TABLE attachment_refs (sha256 TEXT NOT NULL, row_id INTEGER NOT NULL, PRIMARY KEY (sha256, row_id))
        WITHOUT ROWID;
    CREATE INDEX attachment_refs_row ON attachment_refs (row_id);
    CREATE TRIGGER attachment_refs_add AFTER INSERT ON {TABLE} WHEN new.attachments IS NOT NULL
    BEGIN {_refs_insert("new")} END;
    CREATE TRIGGER attachment_refs_remove AFTER DELETE ON {TABLE} WHEN old.attachments IS NOT NULL
    BEGIN DELETE FROM attachment_refs WHERE row_id = old.id; END;
    CREATE TRIGGER attachment_refs_change AFTER UPDATE OF attachments ON {TABLE}
    BEGIN DELETE FROM attachment_refs WHERE row_id = old.id; {_refs_insert("new")} END;
    """)
    db.execute(
        f"INSERT OR IGNORE INTO attachment_refs SELECT json_extract(a.value, '$.sha256'), c.id"
        f" FROM {TABLE} c, json_each(c.attachments) a"
        f" WHERE c.attachments IS NOT NULL AND json_extract(a.value, '$.sha256') IS NOT NULL"
    )


def _refs_insert(row: str) -> str:
    """The statement adding the SHA-256s named in `row`'s attachments (a refused file names none)."""
    return (
        f"INSERT OR IGNORE INTO attachment_refs SELECT json_extract(a.value, '$.sha256'), {row}.id"
        f" FROM json_each({row}.attachments) a WHERE json_extract(a.value, '$.sha256') IS NOT NULL;"
    )
