"""A rater's 👍 (+1) or 👎 (-1) on a logged reply: the jobs ConversationLog.rate and .unrate run on the writer."""

from __future__ import annotations

from sqlite_utils import Database

from bot.store.exchange import utc_now_text
from bot.store.migrations import TABLE


def rate(db: Database, reply_message_id: str, rater_id: str, value: int) -> bool:
    """Record a rater's latest rating of a logged reply; whether it was one."""
    return (
        db.execute(
            # An upsert, not INSERT OR REPLACE: the row REPLACE deletes fires the delete triggers only
            # under PRAGMA recursive_triggers (sqlite-utils sets it; a plain sqlite3 connection does
            # not), and without them m016's scores count the rater twice (seen: raters 2 for one).
            "insert into ratings (reply_message_id, rater_id, value, rated_at) "
            f"select ?, ?, ?, ? where exists (select 1 from {TABLE} where reply_message_id = ?) "
            "on conflict (reply_message_id, rater_id) do update set value = excluded.value, "
            "rated_at = excluded.rated_at",
            [reply_message_id, rater_id, value, utc_now_text(), reply_message_id],
        ).rowcount
        > 0
    )


def unrate(db: Database, reply_message_id: str, rater_id: str, value: int) -> bool:
    """Remove the rating if it is still the one taken back (a later 👎 survives removing 👍); whether it
    was, like `rate`, so the two are one kind of job to their caller."""
    return (
        db.execute(
            "delete from ratings where reply_message_id = ? and rater_id = ? and value = ?",
            [reply_message_id, rater_id, value],
        ).rowcount
        > 0
    )
