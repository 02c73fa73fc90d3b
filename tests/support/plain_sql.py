"""The store's summaries checked against plain SQL over every row (the schema tests and the chaos soak)."""

from __future__ import annotations

from bot.store import FACET_COLUMNS, ConversationLog
from bot.store.scope import Scope

PLAIN_STATS = """
select count(*) as total_conversations, count(distinct user_id) as unique_users,
       coalesce(sum(tokens_used), 0) as total_tokens from conversations
"""


PLAIN_MODELS = """
select model_used, count(*) as conversations, coalesce(sum(tokens_used), 0) as tokens
from conversations group by model_used order by conversations desc, model_used
"""


# Rating counts as the join of ratings to their replies computes them, within a scope's rows.
PLAIN_RATED = """
select count(distinct r.reply_message_id) as rated_replies,
       (select count(*) from (select 1 from ratings r join conversations c using (reply_message_id) where {where}
                              group by r.reply_message_id having sum(r.value) > 0)) as replies_rated_up
from ratings r join conversations c using (reply_message_id) where {where}
"""


PLAIN_NAMES = """
select * from (select ifnull(guild_id, '') as guild_key, ifnull(user_name, '') as name, user_id from conversations
               union select ifnull(guild_id, ''), display_name, user_id from conversations
               where display_name is not null)
"""


def assert_per_server_summaries_match_plain_sql(store: ConversationLog) -> None:
    def as_set(rows):
        return {tuple(row.values()) for row in rows}  # the table sorts names ignoring case

    assert as_set(store.query("select guild_key, name, user_id from user_names")) == as_set(store.query(PLAIN_NAMES))
    for guild in {row["guild_id"] for row in store.query("select guild_id from conversations")} - {None}:
        figures = store.stats(Scope.server(guild))
        [plain] = store.query(
            PLAIN_STATS.replace("from conversations", "from conversations where guild_id = ?"), [guild]
        )
        assert {k: figures[k] for k in plain} == plain, guild
        [rated] = store.query(PLAIN_RATED.format(where="c.guild_id = :scope"), {"scope": guild})
        assert {k: figures[k] for k in rated} == rated, guild
        assert figures["models"] == store.query(
            PLAIN_MODELS.replace("group by", "where guild_id = ? group by"), [guild]
        )
    for user in {row["user_id"] for row in store.query("select user_id from conversations")}:
        figures = store.stats(Scope.own(user))  # a DM's !stats, from the per-user summaries
        [plain] = store.query(PLAIN_STATS.replace("from conversations", "from conversations where user_id = ?"), [user])
        assert {k: figures[k] for k in plain} == plain, user
        [rated] = store.query(PLAIN_RATED.format(where="c.user_id = :scope"), {"scope": user})
        assert {k: figures[k] for k in rated} == rated, user
        assert figures["models"] == store.query(PLAIN_MODELS.replace("group by", "where user_id = ? group by"), [user])


def assert_summary_matches_plain_sql(store: ConversationLog) -> None:
    figures = store.stats()
    [plain] = store.query(PLAIN_STATS)
    assert {k: figures[k] for k in plain} == plain
    [rated] = store.query(PLAIN_RATED.format(where="1"))
    assert {k: figures[k] for k in rated} == rated
    assert figures["models"] == store.query(PLAIN_MODELS)
    assert_per_server_summaries_match_plain_sql(store)
    for column in FACET_COLUMNS:  # what Datasette's column facet would count, scanning every row
        counted = store.query("select value, conversations from facet_counts where facet = ? order by value", [column])
        scanned = store.query(
            f"select {column} as value, count(*) as conversations from conversations "
            f"where {column} is not null group by {column} order by value"
        )
        assert counted == scanned and scanned, column
