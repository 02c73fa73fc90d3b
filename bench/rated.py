"""!stats with ratings in the log, against counting the ratings themselves.

The generated log has no ratings; this adds some (a share of the replies, rated by their asker)
and measures !stats everywhere, in a server and in DMs. Its rating counts read m016's totals; the
baseline counts the ratings in scope through their own indexes (m014), as !stats did before m016.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from bench.figures import Figure, timed
from bot.store import ConversationLog
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3

RATED_EVERY = 20  # one reply in this many is rated: 50,000 ratings in a million conversations
DOWN_EVERY = 3  # one rating in this many is a 👎
RATED_TARGET_MS = 10
# The rating counts of one scope, counted from the ratings (m014's indexes): the baseline.
COUNTED = """select (select count(distinct reply_message_id) from ratings where {where}) as rated_replies,
                    (select count(*) from (select 1 from ratings where {where} group by reply_message_id
                                           having sum(value) > 0)) as replies_rated_up"""


def add_ratings(path: Path) -> int:
    """Give every RATED_EVERY-th row a reply id and a rating by its asker (the triggers fill the owners)."""
    with sqlite3.connect(path) as db:
        db.execute(
            "update conversations set reply_message_id = 'r' || id where reply_message_id is null and id % ? = 0",
            [RATED_EVERY],
        )
        db.execute(
            "insert or ignore into ratings (reply_message_id, rater_id, value, rated_at) "
            "select reply_message_id, user_id, case when id % ? = 0 then -1 else 1 end, timestamp "
            "from conversations where id % ? = 0",
            [DOWN_EVERY * RATED_EVERY, RATED_EVERY],
        )
        rated: int = db.execute("select count(*) from ratings").fetchone()[0]
        return rated


def rated_reads(path: Path) -> list[Figure]:
    count = add_ratings(path)
    # The update above dirtied about a hundred megabytes: measured while the kernel still wrote them out,
    # !stats with ratings in a server took 10.25 ms in the 1M run of 2026-11-30, 5.9 ms once they were.
    os.sync()
    raw = sqlite3.connect(path)
    guild = raw.execute("select guild_id from conversations where guild_id is not null limit 1").fetchone()[0]
    by_rank = "select user_id from stats_users order by conversations desc limit 1 offset ?"
    busiest, typical = (raw.execute(by_rank, [rank]).fetchone()[0] for rank in (0, 50))
    raw.close()
    store = ConversationLog(path)
    figures = []
    for label, scope, where in (
        (f"every row, {count:,} ratings", Scope.everything(), "1"),
        ("in a server holding every row", Scope.server(guild), "guild_key = :guild"),
        ("in a DM: the busiest user's own", Scope.own(busiest), "asker_id = :user"),
        ("in a DM: the 51st busiest user's own", Scope.own(typical), "asker_id = :user"),
    ):
        figures.append(rated_stats(store, label, scope, COUNTED.format(where=where)))
    return figures


def rated_stats(store: ConversationLog, label: str, scope: Scope, counted: str) -> Figure:
    stats = store.stats(scope)
    params = {"guild": scope.guild_id, "user": scope.user_id}
    [plain] = store.query(counted, params)
    assert plain == {k: stats[k] for k in plain}, (label, plain)  # the totals agree with the ratings
    ours = statistics.median(timed(lambda: store.stats(scope), 5))
    baseline = statistics.median(timed(lambda: store.query(counted, params), 5))
    return Figure(
        "stats",
        f"!stats with ratings, {label} ({stats['rated_replies']:,} rated replies)",
        ours,
        "ms",
        "its rating counts from the ratings (m014)",
        baseline,
        target=f"≤ {RATED_TARGET_MS} ms",
        met=ours <= RATED_TARGET_MS,
    )
