"""The SQL of the triggers that keep the summary tables equal to the log, for the migrations.

Each builder returns the statements for one row, `new` (added) or `old` (removed); an update
removes the old row's share and adds the new one's.
"""

from __future__ import annotations

# Datasette's default facets; plugins/counted_facets.py reads their counts from facet_counts.
FACET_COLUMNS = ("model_used", "user_name", "channel_id")
# DMs have no server: their per-server summaries are kept under this key.
GUILD_KEY = "ifnull({row}.guild_id, '')"

STATS_ADD = """
  UPDATE stats_totals SET conversations = conversations + 1, tokens = tokens + coalesce(new.tokens_used, 0);
  INSERT INTO stats_users VALUES (new.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET conversations = conversations + 1;
  INSERT INTO stats_models VALUES (ifnull(new.model_used, ''), 1, coalesce(new.tokens_used, 0))
    ON CONFLICT (model_used) DO UPDATE SET conversations = conversations + 1, tokens = tokens + excluded.tokens;
"""
STATS_REMOVE = """
  UPDATE stats_totals SET conversations = conversations - 1, tokens = tokens - coalesce(old.tokens_used, 0);
  UPDATE stats_users SET conversations = conversations - 1 WHERE user_id = old.user_id;
  DELETE FROM stats_users WHERE user_id = old.user_id AND conversations <= 0;
  UPDATE stats_models SET conversations = conversations - 1, tokens = tokens - coalesce(old.tokens_used, 0)
    WHERE model_used = ifnull(old.model_used, '');
  DELETE FROM stats_models WHERE model_used = ifnull(old.model_used, '') AND conversations <= 0;
"""


def facet_counts_sql(row: str, step: int) -> str:
    """Statements adding (step 1) or removing (step -1) the facet values of `row` (new/old)."""
    if step > 0:
        return "".join(
            f"INSERT INTO facet_counts SELECT '{column}', {row}.{column}, 1 WHERE {row}.{column} IS NOT NULL "
            "ON CONFLICT (facet, value) DO UPDATE SET conversations = conversations + 1;\n"
            for column in FACET_COLUMNS
        )
    return "".join(
        f"UPDATE facet_counts SET conversations = conversations - 1 WHERE {_facet_key(row, column)};\n"
        f"DELETE FROM facet_counts WHERE {_facet_key(row, column)} AND conversations <= 0;\n"
        for column in FACET_COLUMNS
    )


def _facet_key(row: str, column: str) -> str:
    return f"facet = '{column}' AND value = {row}.{column}"


def tenancy_add_sql(row: str) -> str:
    """The names `row`'s user has in its server, and its server's model counts."""
    key = GUILD_KEY.format(row=row)
    return f"""
  INSERT OR IGNORE INTO user_names VALUES ({key}, ifnull({row}.user_name, ''), {row}.user_id);
  INSERT OR IGNORE INTO user_names SELECT {key}, {row}.display_name, {row}.user_id
    WHERE {row}.display_name IS NOT NULL;
  INSERT INTO stats_guild_models VALUES ({key}, ifnull({row}.model_used, ''), 1, coalesce({row}.tokens_used, 0))
    ON CONFLICT (guild_key, model_used) DO UPDATE SET conversations = conversations + 1,
                                                      tokens = tokens + excluded.tokens;
"""


def tenancy_remove_sql(row: str) -> str:
    key = GUILD_KEY.format(row=row)
    # A name goes once no row of that user in that server still carries it.
    return f"""
  DELETE FROM user_names WHERE guild_key = {key} AND user_id = {row}.user_id
    AND name IN (ifnull({row}.user_name, ''), {row}.display_name)
    AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.user_id = {row}.user_id AND c.guild_id IS {row}.guild_id
                    AND (ifnull(c.user_name, '') = user_names.name OR c.display_name = user_names.name));
  UPDATE stats_guild_models SET conversations = conversations - 1, tokens = tokens - coalesce({row}.tokens_used, 0)
    WHERE guild_key = {key} AND model_used = ifnull({row}.model_used, '');
  DELETE FROM stats_guild_models WHERE guild_key = {key} AND model_used = ifnull({row}.model_used, '')
    AND conversations <= 0;
"""


def user_models_sql(row: str, step: int) -> str:
    """Add (step 1) or remove (step -1) `row`'s share of its user's per-model counts."""
    model = f"ifnull({row}.model_used, '')"
    if step > 0:
        return f"""
  INSERT INTO stats_user_models VALUES ({row}.user_id, {model}, 1, coalesce({row}.tokens_used, 0))
    ON CONFLICT (user_id, model_used) DO UPDATE SET conversations = conversations + 1,
                                                    tokens = tokens + excluded.tokens;
"""
    return f"""
  UPDATE stats_user_models SET conversations = conversations - 1, tokens = tokens - coalesce({row}.tokens_used, 0)
    WHERE user_id = {row}.user_id AND model_used = {model};
  DELETE FROM stats_user_models WHERE user_id = {row}.user_id AND model_used = {model} AND conversations <= 0;
"""


# A rating carries whose reply it rates and where, so per-user and per-server rating counts are index
# lookups; it goes with its reply (retention, !forget), so no count sees a rating of a deleted row.
RATING_OWNER = """
  UPDATE ratings SET asker_id = (SELECT user_id FROM conversations WHERE reply_message_id = new.reply_message_id),
                     guild_key = (SELECT ifnull(guild_id, '') FROM conversations
                                  WHERE reply_message_id = new.reply_message_id)
    WHERE reply_message_id = new.reply_message_id AND rater_id = new.rater_id;
"""
RATINGS_WITH_REPLY_GONE = "DELETE FROM ratings WHERE reply_message_id = old.reply_message_id;"
RATINGS_WITH_REPLY_MOVED = """
  UPDATE ratings SET asker_id = new.user_id, guild_key = ifnull(new.guild_id, '')
    WHERE reply_message_id = new.reply_message_id;
"""


# m016: one row per rated reply with its net score, and the !stats rating counts per scope kept from
# those rows, so the counts are a one-row read however many ratings the log holds. A change to a
# reply's ratings updates its score row; a change to a score row moves the totals it counts in.
RATING_TOTAL_SCOPES = (("all", "''"), ("server", "{row}.guild_key"), ("user", "{row}.asker_id"))
SCORE_ADD = """
  INSERT INTO rating_scores (reply_message_id, asker_id, guild_key, score, raters)
    SELECT new.reply_message_id, user_id, ifnull(guild_id, ''), new.value, 1 FROM conversations
    WHERE reply_message_id = new.reply_message_id LIMIT 1
    ON CONFLICT (reply_message_id) DO UPDATE SET score = score + excluded.score, raters = raters + 1;
"""
SCORE_REMOVE = """
  UPDATE rating_scores SET score = score - old.value, raters = raters - 1 WHERE reply_message_id = old.reply_message_id;
  DELETE FROM rating_scores WHERE reply_message_id = old.reply_message_id AND raters = 0;
"""
SCORE_CHANGE = """
  UPDATE rating_scores SET score = score - old.value + new.value WHERE reply_message_id = new.reply_message_id;
"""
SCORE_MOVED = """
  UPDATE rating_scores SET asker_id = new.user_id, guild_key = ifnull(new.guild_id, '')
    WHERE reply_message_id = new.reply_message_id;
"""


def rating_totals_sql(row: str, sign: int) -> str:
    """Count (sign 1) or uncount (-1) the rated reply `row` of rating_scores in each total it belongs to."""
    return "".join(
        f"""
  INSERT INTO rating_totals (scope, key, rated, up)
    VALUES ('{scope}', ifnull({key.format(row=row)}, ''), {sign}, {sign} * ({row}.score > 0))
    ON CONFLICT (scope, key) DO UPDATE SET rated = rated + excluded.rated, up = up + excluded.up;"""
        for scope, key in RATING_TOTAL_SCOPES
    )
