"""The schema (bot/store/migrations.py, schema.py, triggers.py): migrations, adopting old files, summaries equal
to plain SQL."""

from __future__ import annotations

import re
import threading

import pytest
from sqlite_utils import Database

from bot.store import ConversationLog, StoreError, migrate, migrations, utc_now_text
from bot.store.request_record import RequestRecord
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3
from bot.store.usage import CACHE_TOKENS
from tests.support.logs import exchange, log_rows_at
from tests.support.plain_sql import assert_summary_matches_plain_sql

SPEC = {
    "id": "INTEGER",
    "user_id": "TEXT",
    "user_name": "TEXT",
    "channel_id": "TEXT",
    "user_message": "TEXT",
    "bot_response": "TEXT",
    "timestamp": "DATETIME",
    "tokens_used": "INTEGER",
    "model_used": "TEXT",
}
ADDED = {
    "guild_id": "TEXT",
    "display_name": "TEXT",
    "message_id": "TEXT",
    "input_tokens": "INTEGER",
    "output_tokens": "INTEGER",
    "latency_ms": "INTEGER",
    "conversation_id": "TEXT",
    "reply_message_id": "TEXT",
    "attachments": "TEXT",
    "reply_to_message_id": "TEXT",
    "stop_reason": "TEXT",
    "system_prompt_id": "INTEGER",
    "request_state": "TEXT",
    "model_requested": "TEXT",
    "max_tokens": "INTEGER",
    "anthropic_message_id": "TEXT",
    "request_id": "TEXT",
    "context_message_ids": "TEXT",
    "request_masked": "INTEGER",
    "cache_creation_input_tokens": "INTEGER",
    "cache_read_input_tokens": "INTEGER",
}


LATER_COLUMNS = (*RequestRecord().columns(), *CACHE_TOKENS)  # m021's, m022's and m023's


def columns(path) -> dict[str, str]:
    with Database(path) as db:
        return {c.name: c.type for c in db["conversations"].columns}


def test_migrations_on_a_blank_database_give_the_spec_columns_and_more(tmp_path):
    ConversationLog(tmp_path / "log.db").open().close()
    assert columns(tmp_path / "log.db") == {**SPEC, **ADDED}
    with Database(tmp_path / "log.db") as db:
        assert db.journal_mode == "wal"
        assert [m.name for m in migrations.applied(db)] == [
            "m001_conversations",
            "m002_analysis_columns",
            "m003_indexes",
            "m004_full_text_search",
            "m005_opt_outs",
            "m006_ratings_and_threads",
            "m007_stats_summary",
            "m008_facet_counts",
            "m009_facet_filter_indexes",
            "m010_tenancy",
            "m011_attachments",
            "m012_model_prices",
            "m013_user_models",
            "m014_rating_owners",
            "m015_user_usage",
            "m016_rating_totals",
            "m017_stop_reason",
            "m019_memory_forgets",
            "m020_unplaced_rows",
            "m020b_search_index_on_text_updates",
            "m021_system_prompts",
            "m022_request_record",
            "m023_prompt_cache",
            "m024_daily_totals",
            "m025_attachment_refs",
        ]
        assert db["facet_counts"].columns_dict == {"facet": str, "value": str, "conversations": int}
        assert db["opt_outs"].pks == ["user_id"]
        assert db["conversations"].detect_fts() == "conversations_fts"
        unique = [i.columns for i in db["conversations"].indexes if i.unique]
        assert ["message_id"] in unique


def test_migrations_adopt_a_database_from_the_original_logger(tmp_path):
    path = tmp_path / "conversation_logs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("""CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,
            user_name TEXT, channel_id TEXT, user_message TEXT, bot_response TEXT,
            timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, tokens_used INTEGER DEFAULT 0, model_used TEXT)""")
        conn.execute("INSERT INTO conversations (user_id, user_name, user_message) VALUES ('1', 'old', 'kept')")
    with ConversationLog(path) as store:
        assert store.submit(exchange(1)).result() == "logged"
    assert columns(path) == {**SPEC, **ADDED}
    assert [r["user_message"] for r in log_rows_at(path)] == ["kept", "q1"]


def test_an_original_log_with_undated_rows_is_refused_in_one_line_unchanged_and_migrates_once_dated(tmp_path):
    # Before: "cannot use ... as the conversation log: NOT NULL constraint failed: usage_daily.day".
    path = tmp_path / "conversation_logs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("""CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,
            user_name TEXT, channel_id TEXT, user_message TEXT, bot_response TEXT,
            timestamp DATETIME, tokens_used INTEGER DEFAULT 0, model_used TEXT)""")
        conn.executemany(
            "INSERT INTO conversations (user_id, user_message, timestamp) VALUES ('1', ?, ?)",
            [("dated", "2025-01-01T10:00:00.123456"), ("null", None), ("words", "yesterday")],
        )
    before = path.read_bytes()
    with pytest.raises(StoreError) as refused:
        migrate(path)
    message = str(refused.value)
    assert "\n" not in message and str(path) in message
    assert "2 row(s)" in message and "id 2: NULL" in message and "id 3: 'yesterday'" in message
    assert "nothing was changed" in message
    assert path.read_bytes() == before
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE conversations SET timestamp = '2025-01-02 00:00:00' WHERE id IN (2, 3)")
    with ConversationLog(path) as store:
        assert store.stats()["total_conversations"] == 3


def test_timestamps_are_sqlite_utc_text_and_compare_with_datetime_now(tmp_path):
    path = tmp_path / "log.db"
    with ConversationLog(path) as store:
        store.submit(exchange(1)).result()
        store.submit(exchange(2, timestamp="2020-01-01 00:00:00")).result()
        assert store.stats()["last_24_hours"] == 1
    [now_row, _old_row] = log_rows_at(path)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", now_row["timestamp"])
    with sqlite3.connect(path) as conn:
        drift = conn.execute("select abs(strftime('%s','now') - strftime('%s', ?))", [now_row["timestamp"]]).fetchone()[
            0
        ]
    assert drift <= 2
    assert utc_now_text() >= now_row["timestamp"]


def test_a_file_that_is_not_sqlite_is_refused_by_name(tmp_path):
    path = tmp_path / "conversation_logs.db"
    path.write_text("this is not a database\n" * 100)
    with pytest.raises(StoreError, match=re.escape(str(path))):
        ConversationLog(path).open()
    assert path.read_text().startswith("this is not a database")


def test_migrating_at_once_from_many_connections_all_succeed(tmp_path):
    """The web process and the bot start together; both migrate the same new file."""
    path = tmp_path / "log.db"
    barrier = threading.Barrier(8)
    errors: list[Exception] = []

    def start() -> None:
        barrier.wait()
        try:
            migrate(path)
        except Exception as error:  # collected, so the assertion can show it
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Database(path) as db:
        assert migrations.pending(db) == [] and len(migrations.applied(db)) == len(migrations._migrations)
        assert db.journal_mode == "wal"


def rate_some(store: ConversationLog, numbers: range) -> None:
    """Replies to exchanges `numbers`, rated by two raters: 👍 and 👎 on some, 👍 alone on others."""
    for n in numbers:
        store.set_reply_id(f"m{n}", f"r{n}").result()
        if n % 3:
            assert store.rate(f"r{n}", "rater1", 1 if n % 2 else -1).result()
            assert store.rate(f"r{n}", "rater2", -1 if n % 5 == 0 else 1).result()


def test_summaries_equal_plain_sql_after_inserts_deletes_updates_and_migrations(tmp_path):
    path = tmp_path / "log.db"
    # A log from before the summary existed: migrate up to m006 only, then write rows.
    with Database(path) as db:
        migrations.apply(db, stop_before="m007_stats_summary")
        # Rows as the code of that time wrote them: without the columns m011 added.
        db["conversations"].insert_all(
            {
                k: v
                for k, v in exchange(n, channel_id=None if n % 9 == 0 else f"c{n % 3}").row().items()
                if k
                not in ("attachments", "reply_to_message_id", "stop_reason", *RequestRecord().columns(), *CACHE_TOKENS)
            }
            for n in range(50)
        )
    with ConversationLog(path) as store:  # m007 and m008 backfill from the existing rows
        assert_summary_matches_plain_sql(store)
        for n in range(50, 120):
            store.submit(
                exchange(
                    n,
                    model_used="static_fallback" if n % 7 == 0 else "claude-haiku-4-5",
                    input_tokens=n,
                    output_tokens=2 * n,
                )
            ).result()
        rate_some(store, range(40, 120))
        assert_summary_matches_plain_sql(store)
        for n in range(40, 120, 3):  # raters change their minds (an upsert) or take a rating back
            store.rate(f"r{n}", "rater1", -1 if n % 2 else 1).result()
            store.unrate(f"r{n}", "rater2", -1 if n % 5 == 0 else 1).result()
        assert_summary_matches_plain_sql(store)
        for n in range(120, 130):
            store.submit(exchange(n, timestamp="2020-01-01 00:00:00", model_used="old-model")).result()
        rate_some(store, range(120, 130))  # retention takes these ratings with their replies
        assert store.forget("u1").result() > 0  # !forget
        assert store.delete_older_than(30).result() == 8  # retention (two of the ten were u1's)
        assert_summary_matches_plain_sql(store)
        assert "old-model" not in {m["model_used"] for m in store.stats()["models"]}
        store.submit(exchange(500, user_id="late")).result()
        store.run_job(
            lambda db: db.execute(
                "update conversations set model_used = 'x', tokens_used = 9, "
                "user_name = 'renamed', channel_id = null where user_id = 'late'"
            )
        ).result()
        store.run_job(
            lambda db: db.execute(
                "update conversations set user_id = 'moved', guild_id = 'g9' where message_id in ('m41', 'm43')"
            )
        ).result()  # rated replies
        assert_summary_matches_plain_sql(store)
        assert store.forget("u2", Scope.server("g1")).result() > 0  # a server's admin's !forget
        assert store.query("select count(*) as n from conversations where user_id = 'u2'")[0]["n"] > 0
        assert_summary_matches_plain_sql(store)
        user_ids = {r["user_id"] for r in store.query("select user_id from conversations")}
        assert store.stats()["unique_users"] == len(user_ids)


def test_rating_totals_start_from_the_ratings_already_in_a_log(tmp_path):
    """m016 fills its scores and totals from a log rated before it existed."""
    path = tmp_path / "log.db"
    with Database(path) as db:
        migrations.apply(db, stop_before="m016_rating_totals")
        db["conversations"].insert_all(
            {
                k: v
                for k, v in exchange(n, user_id=f"u{n % 4}").row().items()
                if k not in ("stop_reason", *LATER_COLUMNS)
            }
            for n in range(60)
        )  # m017's, m021's and m022's columns
        db.execute("update conversations set reply_message_id = 'r' || message_id")
        db["ratings"].insert_all(
            {"reply_message_id": f"rm{n}", "rater_id": rater, "value": value, "rated_at": "t"}
            for n in range(60)
            if n % 3
            for rater, value in (("a", 1 if n % 2 else -1), ("b", -1 if n % 5 == 0 else 1))
        )
        db.conn.commit()
    with ConversationLog(path) as store:
        assert store.stats()["rated_replies"] == 40 and store.stats()["replies_rated_up"] > 0
        assert_summary_matches_plain_sql(store)
