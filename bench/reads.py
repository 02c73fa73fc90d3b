"""Reads on the big log: !stats and !history, whole and scoped, against plain SQL on the same file."""

from __future__ import annotations

import statistics
from functools import partial
from pathlib import Path

from bench.figures import Figure, timed
from bot.store import ConversationLog
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3

PLAIN_STATS = """
select count(*), count(distinct user_id),
       (select count(*) from conversations where timestamp >= datetime('now', '-1 day')), sum(tokens_used)
from conversations
"""
PLAIN_MODELS = "select model_used, count(*), sum(tokens_used) from conversations group by model_used"
PLAIN_SERVER_STATS = """
select count(*), count(distinct user_id),
       (select count(*) from conversations where timestamp >= datetime('now', '-1 day') and guild_id = :guild),
       sum(tokens_used)
from conversations where guild_id = :guild
"""
PLAIN_SERVER_MODELS = """select model_used, count(*), sum(tokens_used) from conversations where guild_id = :guild
                         group by model_used"""
# What a first version would write, on a table with no index but its key: one OR, a full scan.
# The log's own indexes serve even this form now, so NOT INDEXED stands in for that table.
NAIVE_HISTORY = """select * from conversations not indexed where user_id = :user or user_name = :user
                   order by timestamp desc, id desc limit 10"""
INDEXED_HISTORY = "select * from conversations where user_id = ? order by timestamp desc limit 10"
BY_RANK = (
    "select user_id, user_name from conversations where user_id = "
    "(select user_id from stats_users order by conversations desc limit 1 offset ?) limit 1"
)
TYPICAL_RANK = 50  # the 51st busiest user: a few hundred rows, where the busiest holds half the log
STATS_TARGET_MS = 10
HISTORY_TARGET_MS = 2


def reads(path: Path) -> list[Figure]:
    store = ConversationLog(path)
    raw = sqlite3.connect(path)
    plain = statistics.median(
        timed(lambda: (raw.execute(PLAIN_STATS).fetchall(), raw.execute(PLAIN_MODELS).fetchall()), 5)
    )
    ours = statistics.median(timed(store.stats, 50))
    figures = [stats_figure("!stats (summary tables)", ours, "plain SQL", plain)]
    busy_user = raw.execute(
        "select user_id, user_name from stats_users join conversations using (user_id) "
        "order by stats_users.conversations desc limit 1"
    ).fetchone()
    naive = statistics.median(timed(lambda: raw.execute(NAIVE_HISTORY, {"user": "nobody"}).fetchall(), 5))
    for label, user in (("by id", busy_user[0]), ("by name", busy_user[1]), ("unknown user", "nobody")):
        ours = statistics.median(timed(partial(store.user_history, user), 200))
        figures.append(
            Figure(
                "history",
                f"!history {label}",
                ours,
                "ms",
                "naive OR, unknown user",
                naive,
                f"≤ {HISTORY_TARGET_MS} ms",
                ours <= HISTORY_TARGET_MS,
            )
        )
    indexed = statistics.median(timed(lambda: raw.execute(INDEXED_HISTORY, [busy_user[0]]).fetchall(), 200))
    figures.append(
        Figure("history", "raw sqlite3: last 10 by user_id, indexed, connection already open", indexed, "ms")
    )
    raw.close()
    return figures


def scoped_reads(path: Path) -> list[Figure]:
    """The same commands asked in one server, or in a DM by one user: what the bot runs since tenancy."""
    store = ConversationLog(path)
    raw = sqlite3.connect(path)
    guild = raw.execute("select guild_id from conversations where guild_id is not null limit 1").fetchone()[0]
    server = Scope.server(guild)
    plain = statistics.median(
        timed(
            lambda: (
                raw.execute(PLAIN_SERVER_STATS, {"guild": guild}).fetchall(),
                raw.execute(PLAIN_SERVER_MODELS, {"guild": guild}).fetchall(),
            ),
            5,
        )
    )
    ours = statistics.median(timed(lambda: store.stats(server), 50))
    figures = [
        stats_figure(
            "!stats in a server holding every row (per-server summaries)", ours, "plain SQL for that server", plain
        )
    ]
    busiest, typical = (raw.execute(BY_RANK, [rank]).fetchone() for rank in (0, TYPICAL_RANK))
    for label, (user_id, _) in (("the busiest user", busiest), ("the 51st busiest user", typical)):
        count = raw.execute("select count(*) from conversations where user_id = ?", [user_id]).fetchone()[0]
        ours = statistics.median(timed(partial(own_stats, store, user_id), 5))
        figures.append(stats_figure(f"!stats in a DM: {label}'s own ({count:,} rows)", ours))
    raw.close()
    return figures + history_in_a_server(store, server, busiest, typical[0])


def history_in_a_server(
    store: ConversationLog, server: Scope, busiest: tuple[str, str], typical_id: str
) -> list[Figure]:
    user_id, name = busiest
    resolve = statistics.median(timed(lambda: store.find_users(name, server), 200))
    history = statistics.median(timed(lambda: store.scoped_history(user_id, server), 200))
    # The busiest user's last 10 are the server's last rows whichever index leads; a user with a few hundred
    # rows shows a plan that walks the server's rows (786 ms for a user with 2, before Scope's of_one_user).
    typical = statistics.median(timed(lambda: store.scoped_history(typical_id, server), 20))
    return [
        Figure("history", "!history NAME in a server: the name resolved to ids", resolve, "ms"),
        Figure("history", "!history in a server: the busiest user's last 10 by id", history, "ms"),
        Figure(
            "history",
            "!history in a server: the 51st busiest user's last 10 by id",
            typical,
            "ms",
            target=f"≤ {HISTORY_TARGET_MS} ms",
            met=typical <= HISTORY_TARGET_MS,
        ),
        Figure(
            "history",
            "!history NAME in a server, both steps",
            resolve + history,
            "ms",
            target=f"≤ {HISTORY_TARGET_MS} ms",
            met=resolve + history <= HISTORY_TARGET_MS,
        ),
    ]


def own_stats(store: ConversationLog, user_id: str) -> object:
    """!stats in a DM: the caller's own rows (the scope is built per call, as the command builds it)."""
    return store.stats(Scope.own(user_id))


def stats_figure(what: str, ours: float, baseline: str = "", plain: float | None = None) -> Figure:
    return Figure("stats", what, ours, "ms", baseline, plain, f"≤ {STATS_TARGET_MS} ms", ours <= STATS_TARGET_MS)
