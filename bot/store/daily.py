"""The SQL of m024: each day's conversations and tokens (tokens_used, as daily_activity always summed them),
the server index behind the web search's server field, and the score index behind rated_replies.

usage_daily holds input_tokens + output_tokens, which rows logged before those columns (m002) lack, so
daily_activity's tokens need their own summary to keep its figures. One row a day: 365 rows for a year,
which daily_activity reads in under a millisecond where grouping a million rows took 1.1 s.
"""

from __future__ import annotations

TABLE = """
CREATE TABLE daily_totals (day TEXT NOT NULL PRIMARY KEY, conversations INTEGER NOT NULL,
                           tokens INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO daily_totals SELECT date(timestamp), count(*), coalesce(sum(tokens_used), 0)
  FROM conversations GROUP BY 1;
"""
# The search page's server field picks a server's ids by this index instead of reading every row.
SERVER_INDEX = "CREATE INDEX idx_conversations_guild_id_timestamp ON conversations (guild_id, timestamp);"
# rated_replies walks the scores best first, newest reply first among equals (a Discord id is a number in text:
# longer is newer), 50 at a time: with 50,000 rated replies, sorting them joined to their rows took 133 ms.
SCORE_INDEX = """CREATE INDEX rating_scores_by_score
  ON rating_scores (score DESC, length(reply_message_id) DESC, reply_message_id DESC);"""
WATCHED = "timestamp, tokens_used"


def daily_sql(row: str, step: int) -> str:
    """Add (step 1) or take out (step -1) `row`'s conversation and tokens in its day; an emptied day goes."""
    day, tokens = f"date({row}.timestamp)", f"coalesce({row}.tokens_used, 0)"
    if step > 0:
        return f"""
  INSERT INTO daily_totals VALUES ({day}, 1, {tokens})
    ON CONFLICT (day) DO UPDATE SET conversations = conversations + 1, tokens = tokens + excluded.tokens;
"""
    return f"""
  UPDATE daily_totals SET conversations = conversations - 1, tokens = tokens - {tokens} WHERE day = {day};
  DELETE FROM daily_totals WHERE day = {day} AND conversations <= 0;
"""


def daily_migration_sql() -> str:
    return f"""
    {TABLE}
    {SERVER_INDEX}
    {SCORE_INDEX}
    CREATE TRIGGER daily_totals_after_insert AFTER INSERT ON conversations BEGIN {daily_sql("new", 1)} END;
    CREATE TRIGGER daily_totals_after_delete AFTER DELETE ON conversations BEGIN {daily_sql("old", -1)} END;
    CREATE TRIGGER daily_totals_after_update AFTER UPDATE OF {WATCHED} ON conversations
      BEGIN {daily_sql("old", -1)} {daily_sql("new", 1)} END;
    """
