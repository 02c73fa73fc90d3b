"""!stats with ratings in the log: their counts are the one part of !stats that grows with the data.

The generated log has no ratings; this adds some (a share of the replies, rated by their asker)
and measures !stats everywhere, in a server and in DMs, where the counts use the ratings' own
indexes (m014_rating_owners in bot/store/schema.py).
"""

from __future__ import annotations

import sqlite3
import statistics
from pathlib import Path

from bench.figures import Figure, timed
from bot.scope import Scope
from bot.store import ConversationLog

RATED_EVERY = 20  # one reply in this many is rated: 50,000 ratings in a million conversations
DOWN_EVERY = 3  # one rating in this many is a 👎
RATED_TARGET_MS = 10


def add_ratings(path: Path) -> int:
    """Give every RATED_EVERY-th row a reply id and a rating by its asker (the triggers fill the owners)."""
    with sqlite3.connect(path) as db:
        db.execute("update conversations set reply_message_id = 'r' || id "
                   "where reply_message_id is null and id % ? = 0", [RATED_EVERY])
        db.execute("insert or ignore into ratings (reply_message_id, rater_id, value, rated_at) "
                   "select reply_message_id, user_id, case when id % ? = 0 then -1 else 1 end, timestamp "
                   "from conversations where id % ? = 0", [DOWN_EVERY * RATED_EVERY, RATED_EVERY])
        return db.execute("select count(*) from ratings").fetchone()[0]


def rated_reads(path: Path) -> list[Figure]:
    count = add_ratings(path)
    raw = sqlite3.connect(path)
    guild = raw.execute("select guild_id from conversations where guild_id is not null limit 1").fetchone()[0]
    by_rank = "select user_id from stats_users order by conversations desc limit 1 offset ?"
    busiest, typical = (raw.execute(by_rank, [rank]).fetchone()[0] for rank in (0, 50))
    raw.close()
    store = ConversationLog(path)
    figures = []
    for label, scope in ((f"every row, {count:,} ratings", Scope.everything()),
                         ("in a server holding every row", Scope.server(guild)),
                         ("in a DM: the busiest user's own", Scope.own(busiest)),
                         ("in a DM: the 51st busiest user's own", Scope.own(typical))):
        rated = store.stats(scope)["rated_replies"]
        ours = statistics.median(timed(lambda: store.stats(scope), 5))
        figures.append(Figure("stats", f"!stats with ratings, {label} ({rated:,} rated replies)", ours, "ms",
                              target=f"≤ {RATED_TARGET_MS} ms", met=ours <= RATED_TARGET_MS))
    return figures
