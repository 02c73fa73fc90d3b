"""The SQL of m012 and m015: model prices, and the per-day summaries behind costs and the dashboard.

Granularity: a day (UTC) for tokens, users and latency, an hour of the day for the busiest hours.
A price takes effect at 00:00 UTC on its `effective_from` date, so the cost of a day's tokens is
the same whether it is summed row by row or day by day.
"""

from __future__ import annotations

from bot.store.exchange import FALLBACK_MODEL

# Anthropic's published list prices, USD per million tokens, read 2026-11-24 from
# https://platform.claude.com/docs/en/about-claude/models/overview and each model's page
# (models/haiku-4-5/overview: $1/$5; models/sonnet-4-5/overview: $3/$15; models/opus-4-5/overview: $5/$25)
# and https://platform.claude.com/docs/en/about-claude/pricing (Opus 4.1: $15/$75).
# Dated from the epoch: the price in force since the model existed. BOT_MODEL_PRICES adds later rows.
DEFAULT_PRICES = (
    ("claude-haiku-4-5", "1970-01-01", 1.0, 5.0),
    ("claude-sonnet-4-5", "1970-01-01", 3.0, 15.0),
    ("claude-opus-4-5", "1970-01-01", 5.0, 25.0),
    ("claude-opus-4-1", "1970-01-01", 15.0, 75.0),
)
# The token columns the usage summaries add up, before and after m023 counted the prompt cache's.
TOKENS_M012 = ("input_tokens", "output_tokens")
CACHE_TOKENS = ("cache_creation_input_tokens", "cache_read_input_tokens")
TOKENS = TOKENS_M012 + CACHE_TOKENS
LATENCY_BUCKET_MS = 50  # p50/p95 are read from a histogram of this width

TABLES = """
CREATE TABLE model_prices (model TEXT NOT NULL, effective_from TEXT NOT NULL
                             CHECK (effective_from = date(effective_from)),
                           input_per_mtok REAL NOT NULL CHECK (input_per_mtok >= 0),
                           output_per_mtok REAL NOT NULL CHECK (output_per_mtok >= 0),
                           PRIMARY KEY (model, effective_from)) WITHOUT ROWID;
CREATE TABLE usage_daily (day TEXT NOT NULL, guild_key TEXT NOT NULL, model_used TEXT NOT NULL,
                          conversations INTEGER NOT NULL, input_tokens INTEGER NOT NULL,
                          output_tokens INTEGER NOT NULL, PRIMARY KEY (day, guild_key, model_used)) WITHOUT ROWID;
CREATE TABLE day_users (day TEXT NOT NULL, user_id TEXT NOT NULL, conversations INTEGER NOT NULL,
                        PRIMARY KEY (day, user_id)) WITHOUT ROWID;
CREATE TABLE hour_counts (day TEXT NOT NULL, hour INTEGER NOT NULL, conversations INTEGER NOT NULL,
                          PRIMARY KEY (day, hour)) WITHOUT ROWID;
CREATE TABLE latency_daily (day TEXT NOT NULL, bucket_ms INTEGER NOT NULL, replies INTEGER NOT NULL,
                            PRIMARY KEY (day, bucket_ms)) WITHOUT ROWID;
"""

# Backfill from the rows already logged: one pass per summary.
BACKFILL = f"""
INSERT INTO usage_daily SELECT date(timestamp), ifnull(guild_id, ''), ifnull(model_used, ''), count(*),
  coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0) FROM conversations GROUP BY 1, 2, 3;
INSERT INTO day_users SELECT date(timestamp), user_id, count(*) FROM conversations GROUP BY 1, 2;
INSERT INTO hour_counts SELECT date(timestamp), cast(strftime('%H', timestamp) AS INTEGER), count(*)
  FROM conversations GROUP BY 1, 2;
INSERT INTO latency_daily SELECT date(timestamp), latency_ms / {LATENCY_BUCKET_MS} * {LATENCY_BUCKET_MS}, count(*)
  FROM conversations WHERE latency_ms IS NOT NULL AND model_used IS NOT '{FALLBACK_MODEL}' GROUP BY 1, 2;
"""

WATCHED = "timestamp, user_id, guild_id, model_used, input_tokens, output_tokens, latency_ms"


def add_sql(row: str, tokens: tuple[str, ...] = TOKENS_M012) -> str:
    """Statements adding `row` (new/old) to every summary."""
    day = f"date({row}.timestamp)"
    return f"""
  INSERT INTO usage_daily (day, guild_key, model_used, conversations, {", ".join(tokens)})
    VALUES ({day}, ifnull({row}.guild_id, ''), ifnull({row}.model_used, ''), 1, {_values(row, tokens)})
    ON CONFLICT (day, guild_key, model_used) DO UPDATE SET conversations = conversations + 1, {_sums(tokens)};
  INSERT INTO day_users VALUES ({day}, {row}.user_id, 1)
    ON CONFLICT (day, user_id) DO UPDATE SET conversations = conversations + 1;
  INSERT INTO hour_counts VALUES ({day}, cast(strftime('%H', {row}.timestamp) AS INTEGER), 1)
    ON CONFLICT (day, hour) DO UPDATE SET conversations = conversations + 1;
  INSERT INTO latency_daily SELECT {day}, {_bucket(row)}, 1
    WHERE {row}.latency_ms IS NOT NULL AND {row}.model_used IS NOT '{FALLBACK_MODEL}'
    ON CONFLICT (day, bucket_ms) DO UPDATE SET replies = replies + 1;
"""


def _values(row: str, tokens: tuple[str, ...]) -> str:
    return ", ".join(f"coalesce({row}.{column}, 0)" for column in tokens)


def _sums(tokens: tuple[str, ...]) -> str:
    return ", ".join(f"{column} = {column} + excluded.{column}" for column in tokens)


def remove_sql(row: str, tokens: tuple[str, ...] = TOKENS_M012) -> str:
    """Statements taking `row`'s share out of every summary; emptied rows go."""
    day = f"date({row}.timestamp)"
    hour = f"cast(strftime('%H', {row}.timestamp) AS INTEGER)"
    usage_key = f"day = {day} AND guild_key = ifnull({row}.guild_id, '') AND model_used = ifnull({row}.model_used, '')"
    latency_key = f"day = {day} AND bucket_ms = {_bucket(row)}"
    latency_guard = f"{row}.latency_ms IS NOT NULL AND {row}.model_used IS NOT '{FALLBACK_MODEL}'"
    return f"""
  {take_tokens("usage_daily", usage_key, row, tokens)}
  UPDATE day_users SET conversations = conversations - 1 WHERE day = {day} AND user_id = {row}.user_id;
  DELETE FROM day_users WHERE day = {day} AND user_id = {row}.user_id AND conversations <= 0;
  UPDATE hour_counts SET conversations = conversations - 1 WHERE day = {day} AND hour = {hour};
  DELETE FROM hour_counts WHERE day = {day} AND hour = {hour} AND conversations <= 0;
  UPDATE latency_daily SET replies = replies - 1 WHERE {latency_key} AND {latency_guard};
  DELETE FROM latency_daily WHERE {latency_key} AND replies <= 0;
"""


def take_tokens(table: str, where: str, row: str, tokens: tuple[str, ...] = TOKENS_M012) -> str:
    """Take `row`'s conversation and tokens out of the `table` row at `where`; an emptied row goes."""
    taken = ", ".join(f"{column} = {column} - coalesce({row}.{column}, 0)" for column in tokens)
    return f"""
  UPDATE {table} SET conversations = conversations - 1, {taken} WHERE {where};
  DELETE FROM {table} WHERE {where} AND conversations <= 0;
"""


def _bucket(row: str) -> str:
    return f"{row}.latency_ms / {LATENCY_BUCKET_MS} * {LATENCY_BUCKET_MS}"


def migration_sql() -> str:
    prices = ",\n".join(f"('{m}', '{d}', {i}, {o})" for m, d, i, o in DEFAULT_PRICES)
    return f"""
    {TABLES}
    INSERT INTO model_prices VALUES {prices};
    {BACKFILL}
    CREATE TRIGGER usage_after_insert AFTER INSERT ON conversations BEGIN {add_sql("new")} END;
    CREATE TRIGGER usage_after_delete AFTER DELETE ON conversations BEGIN {remove_sql("old")} END;
    CREATE TRIGGER usage_after_update AFTER UPDATE OF {WATCHED} ON conversations
      BEGIN {remove_sql("old")} {add_sql("new")} END;
    """


# m015: one user's tokens by day, server and model, so a DM's !stats prices a busy user's tokens
# without reading their rows (1.4-2.4 s for a user with 565,000 rows before).
USER_USAGE_TABLE = """
CREATE TABLE usage_user_daily (user_id TEXT NOT NULL, day TEXT NOT NULL, guild_key TEXT NOT NULL,
                               model_used TEXT NOT NULL, conversations INTEGER NOT NULL,
                               input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
                               PRIMARY KEY (user_id, day, guild_key, model_used)) WITHOUT ROWID;
INSERT INTO usage_user_daily SELECT user_id, date(timestamp), ifnull(guild_id, ''), ifnull(model_used, ''), count(*),
  coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0) FROM conversations GROUP BY 1, 2, 3, 4;
"""
USER_WATCHED = "timestamp, user_id, guild_id, model_used, input_tokens, output_tokens"


def user_usage_sql(row: str, step: int, tokens: tuple[str, ...] = TOKENS_M012) -> str:
    """Add (step 1) or take out (step -1) `row`'s tokens in its user's day."""
    key = f"{row}.user_id, date({row}.timestamp), ifnull({row}.guild_id, ''), ifnull({row}.model_used, '')"
    if step > 0:
        return f"""
  INSERT INTO usage_user_daily (user_id, day, guild_key, model_used, conversations, {", ".join(tokens)})
    VALUES ({key}, 1, {_values(row, tokens)})
    ON CONFLICT (user_id, day, guild_key, model_used) DO UPDATE SET conversations = conversations + 1, {_sums(tokens)};
"""
    return take_tokens("usage_user_daily", f"(user_id, day, guild_key, model_used) = ({key})", row, tokens)


def user_usage_migration_sql() -> str:
    return f"""
    {USER_USAGE_TABLE}
    CREATE TRIGGER user_usage_after_insert AFTER INSERT ON conversations BEGIN {user_usage_sql("new", 1)} END;
    CREATE TRIGGER user_usage_after_delete AFTER DELETE ON conversations BEGIN {user_usage_sql("old", -1)} END;
    CREATE TRIGGER user_usage_after_update AFTER UPDATE OF {USER_WATCHED} ON conversations
      BEGIN {user_usage_sql("old", -1)} {user_usage_sql("new", 1)} END;
    """


# m023: the prompt cache's tokens. Claude bills them apart from input_tokens: a cache write at 1.25x the
# input price, a read at 0.1x (platform.claude.com/docs/en/about-claude/pricing, read 2026-11-29: Haiku 4.5
# $1.25/$0.10, Sonnet 4.5 $3.75/$0.30, Opus 4.5 $6.25/$0.50, Opus 4.1 $18.75/$1.50 per million tokens, each
# 1.25x and 0.1x its input price). Every price row already in the log gets those multiples of its input
# price; BOT_MODEL_PRICES can give its own. Rows logged before m023 had no cache tokens (the bot sent no
# cache_control): 0 is their true count, so the columns default to it and nothing is backfilled.
CACHE_WRITE_MULTIPLIER = 1.25  # a 5-minute cache write, per input token price
CACHE_READ_MULTIPLIER = 0.1
PRICE_DIGITS = 6  # 0.1 x 3 is 0.30000000000000004 in floating point; prices are kept to a millionth of a dollar
SUMMARIES_WITH_TOKENS = ("conversations", "usage_daily", "usage_user_daily")
USAGE_TRIGGERS = ("usage_after_insert", "usage_after_delete", "usage_after_update")
USER_USAGE_TRIGGERS = ("user_usage_after_insert", "user_usage_after_delete", "user_usage_after_update")


def cache_migration_sql() -> str:
    columns = "".join(
        f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0;\n"
        for table in SUMMARIES_WITH_TOKENS
        for column in CACHE_TOKENS
    )
    drops = "".join(f"DROP TRIGGER {name};\n" for name in USAGE_TRIGGERS + USER_USAGE_TRIGGERS)
    watched = f"{WATCHED}, {', '.join(CACHE_TOKENS)}"
    user_watched = f"{USER_WATCHED}, {', '.join(CACHE_TOKENS)}"
    return f"""
    {columns}
    ALTER TABLE model_prices ADD COLUMN cache_write_per_mtok REAL NOT NULL DEFAULT 0 CHECK (cache_write_per_mtok >= 0);
    ALTER TABLE model_prices ADD COLUMN cache_read_per_mtok REAL NOT NULL DEFAULT 0 CHECK (cache_read_per_mtok >= 0);
    UPDATE model_prices SET cache_write_per_mtok = round(input_per_mtok * {CACHE_WRITE_MULTIPLIER}, {PRICE_DIGITS}),
                            cache_read_per_mtok = round(input_per_mtok * {CACHE_READ_MULTIPLIER}, {PRICE_DIGITS});
    {drops}
    CREATE TRIGGER usage_after_insert AFTER INSERT ON conversations BEGIN {add_sql("new", TOKENS)} END;
    CREATE TRIGGER usage_after_delete AFTER DELETE ON conversations BEGIN {remove_sql("old", TOKENS)} END;
    CREATE TRIGGER usage_after_update AFTER UPDATE OF {watched} ON conversations
      BEGIN {remove_sql("old", TOKENS)} {add_sql("new", TOKENS)} END;
    CREATE TRIGGER user_usage_after_insert AFTER INSERT ON conversations BEGIN {user_usage_sql("new", 1, TOKENS)} END;
    CREATE TRIGGER user_usage_after_delete AFTER DELETE ON conversations BEGIN {user_usage_sql("old", -1, TOKENS)} END;
    CREATE TRIGGER user_usage_after_update AFTER UPDATE OF {user_watched} ON conversations
      BEGIN {user_usage_sql("old", -1, TOKENS)} {user_usage_sql("new", 1, TOKENS)} END;
    """
