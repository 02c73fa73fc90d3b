"""The permanent log on real SQLite files: schema, migrations, queries, and no lost rows."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import subprocess
import threading
import time
from dataclasses import replace

import pytest
from sqlite_utils import Database

from bot.export import csv_records
from bot import queries
from bot.scope import Scope
from bot.service import Incoming, open_service
from bot.store import FACET_COLUMNS, ConversationLog, Exchange, StoreError, migrate, migrations, utc_now_text
from tests.conftest import log_rows, running_bot

SPEC = {
    "id": "INTEGER", "user_id": "TEXT", "user_name": "TEXT", "channel_id": "TEXT", "user_message": "TEXT",
    "bot_response": "TEXT", "timestamp": "DATETIME", "tokens_used": "INTEGER", "model_used": "TEXT",
}
ADDED = {
    "guild_id": "TEXT", "display_name": "TEXT", "message_id": "TEXT", "input_tokens": "INTEGER",
    "output_tokens": "INTEGER", "latency_ms": "INTEGER", "conversation_id": "TEXT", "reply_message_id": "TEXT",
}


def exchange(n: int, **changes) -> Exchange:
    # Three servers and DMs (guild None), and display names that two users share.
    values = dict(user_id=f"u{n % 5}", user_name=f"user{n % 5}", channel_id="c1", user_message=f"q{n}",
                  bot_response=f"a{n}", model_used="claude-haiku-4-5", message_id=f"m{n}",
                  input_tokens=3, output_tokens=4, guild_id=[None, "g1", "g2", "g3"][n % 4],
                  display_name=f"Shared {n % 2}")
    return Exchange(**{**values, **changes})


def columns(path) -> dict[str, str]:
    with Database(path) as db:
        return {c.name: c.type for c in db["conversations"].columns}


def test_migrations_on_a_blank_database_give_the_spec_columns_and_more(tmp_path):
    ConversationLog(tmp_path / "log.db").open().close()
    assert columns(tmp_path / "log.db") == {**SPEC, **ADDED}
    with Database(tmp_path / "log.db") as db:
        assert db.journal_mode == "wal"
        assert [m.name for m in migrations.applied(db)] == [
            "m001_conversations", "m002_analysis_columns", "m003_indexes", "m004_full_text_search", "m005_opt_outs",
            "m006_ratings_and_threads", "m007_stats_summary", "m008_facet_counts", "m009_facet_filter_indexes",
            "m010_tenancy"]
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


def log_rows_at(path) -> list[dict]:
    with Database(path) as db:
        return list(db["conversations"].rows_where(order_by="id"))


def test_timestamps_are_sqlite_utc_text_and_compare_with_datetime_now(tmp_path):
    path = tmp_path / "log.db"
    with ConversationLog(path) as store:
        store.submit(exchange(1)).result()
        store.submit(exchange(2, timestamp="2020-01-01 00:00:00")).result()
        assert store.stats()["last_24_hours"] == 1
    [now_row, old_row] = log_rows_at(path)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", now_row["timestamp"])
    with sqlite3.connect(path) as conn:
        drift = conn.execute("select abs(strftime('%s','now') - strftime('%s', ?))",
                             [now_row["timestamp"]]).fetchone()[0]
    assert drift <= 2
    assert utc_now_text() >= now_row["timestamp"]


def test_a_retried_write_is_never_a_duplicate(tmp_path):
    with ConversationLog(tmp_path / "log.db") as store:
        store.submit(exchange(1)).result()
        store.submit(exchange(1, bot_response="again")).result()
    assert [r["bot_response"] for r in log_rows_at(tmp_path / "log.db")] == ["a1"]


def test_history_matches_id_or_name_and_uses_indexes_only(tmp_path):
    with ConversationLog(tmp_path / "log.db") as store:
        for n in range(30):
            store.submit(exchange(n, display_name=f"Display {n % 5}")).result()
        by_id = store.history("u1")
        assert [r["user_message"] for r in by_id] == [f"q{n}" for n in (26, 21, 16, 11, 6, 1)]
        assert store.history("USER1") == by_id == store.history("display 1")
        assert len(store.history("u1", limit=3)) == 3
        assert store.history("nobody") == []
    with sqlite3.connect(tmp_path / "log.db") as conn:
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + queries.sql("user_history"),
                                                          {"user": "x", "limit": 10}))
    assert "SCAN conversations" not in plan, plan
    assert plan.count("USING INDEX") + plan.count("USING COVERING INDEX") >= 3, plan


async def test_fifty_users_at_once_lose_no_row(harness):
    users = [harness.discord.add_member(f"crowd{i}") for i in range(50)]
    before = len(harness.discord.sent)
    for user in users:
        await harness.discord.user_says(user, f"hello from {user.name}", mention_bot=True)
    await harness.discord.wait_for_sent(before + 50, timeout=30)

    rows = harness.rows()
    assert sorted(r["user_message"] for r in rows) == sorted(f"hello from crowd{i}" for i in range(50))
    assert len({r["message_id"] for r in rows}) == 50


async def test_a_restart_keeps_the_data(settings, discord_server, members, claude):
    alice = members[0]
    async with running_bot(settings, discord_server):
        await discord_server.user_says(alice, "before restart", mention_bot=True)
        await discord_server.wait_for_sent(1)
    async with running_bot(settings, discord_server):
        await discord_server.user_says(alice, "after restart", mention_bot=True)
        await discord_server.wait_for_sent(2)
    assert [r["user_message"] for r in log_rows(settings)] == ["before restart", "after restart"]
    # Memory survives too: the turn after the restart was sent with the one before as context.
    assert [m["content"] for m in claude.requests[-1]["messages"]] == [
        "before restart", "Echo #1: before restart", "after restart"]


def chattr(flag: str, *paths) -> None:
    result = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"this filesystem cannot make files immutable: {result.stderr.strip()}")


async def test_database_made_read_only_mid_run_spools_then_replays(harness, caplog):
    await harness.say(harness.alice, "while writable", mention_bot=True)
    db = harness.settings.log_db
    wal = db.with_name(db.name + "-wal")
    chattr("+i", db, wal)  # immutable: read-only even for root
    try:
        await harness.say(harness.alice, "while read-only 1", mention_bot=True)
        await harness.say(harness.bob, "while read-only 2", mention_bot=True)
        spool = harness.service.store.spool.read()
    finally:
        chattr("-i", db, wal)
    assert [r["user_message"] for r in spool] == ["while read-only 1", "while read-only 2"]
    assert "spooling" in caplog.text

    await harness.say(harness.alice, "writable again", mention_bot=True)
    assert [r["user_message"] for r in harness.rows()] == [
        "while writable", "while read-only 1", "while read-only 2", "writable again"]
    assert not harness.service.store.spool.path.exists()


async def test_a_locked_database_spools_and_lands_once_released(tmp_path, caplog):
    path = tmp_path / "log.db"
    store = ConversationLog(path, busy_timeout=0.2).open()
    try:
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        assert store.submit(exchange(1)).result(timeout=5) == "spooled"
        assert "database is locked" in caplog.text
        locker.execute("ROLLBACK")
        locker.close()
        assert store.submit(exchange(2)).result(timeout=5) == "logged"
    finally:
        store.close()
    assert [r["user_message"] for r in log_rows_at(path)] == ["q1", "q2"]


def test_spooled_rows_are_replayed_at_startup_without_duplicates(tmp_path):
    path = tmp_path / "log.db"
    with ConversationLog(path) as store:
        store.submit(exchange(1)).result()
    store = ConversationLog(path)
    store.spool.append([exchange(1).row(), exchange(2).row()])  # 1 was already written once
    with open(store.spool.path, "a") as handle:
        handle.write('{"user_id": "half a line from a killed proc')
    with store:
        pass
    assert [r["message_id"] for r in log_rows_at(path)] == ["m1", "m2"]
    assert not store.spool.path.exists()


def test_rows_handed_over_after_close_go_to_the_spool(tmp_path):
    path = tmp_path / "log.db"
    store = ConversationLog(path).open()
    store.close()
    assert store.submit(exchange(9)).result() == "spooled"
    with ConversationLog(path):
        pass
    assert [r["message_id"] for r in log_rows_at(path)] == ["m9"]


def test_close_flushes_everything_handed_over(tmp_path):
    path = tmp_path / "log.db"
    store = ConversationLog(path).open()
    futures = [store.submit(exchange(n)) for n in range(2000)]
    store.close()
    assert all(f.done() for f in futures)
    assert len(log_rows_at(path)) == 2000


def test_writes_from_many_threads_group_commit_without_loss(tmp_path):
    path = tmp_path / "log.db"
    with ConversationLog(path) as store:
        def worker(start: int) -> None:
            for n in range(start, start + 200):
                store.submit(exchange(n))
        threads = [threading.Thread(target=worker, args=(i * 200,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len({r["message_id"] for r in log_rows_at(path)}) == 2000


def test_a_file_that_is_not_sqlite_is_refused_by_name(tmp_path):
    path = tmp_path / "conversation_logs.db"
    path.write_text("this is not a database\n" * 100)
    with pytest.raises(StoreError, match=re.escape(str(path))):
        ConversationLog(path).open()
    assert path.read_text().startswith("this is not a database")


async def test_memory_and_log_are_independent(settings, claude):
    async with open_service(settings) as service:
        message = Incoming(user_id="1", user_name="a", channel_id="c", text="remember me", message_id="x1")
        await service.chat(message)
        assert service.memory.forget() == 2
        await service.chat(replace(message, text="again", message_id="x2"))
        assert claude.requests[-1]["messages"] == [{"role": "user", "content": "again"}]
    assert len(log_rows(settings)) == 2
    settings.memory_db.unlink()
    async with open_service(settings) as service:
        await service.chat(replace(message, text="memory file gone", message_id="x3"))
    assert [r["user_message"] for r in log_rows(settings)] == ["remember me", "again", "memory file gone"]
    # ...and losing the log does not touch the memory.
    for suffix in ("", "-wal", "-shm"):
        settings.log_db.with_name(settings.log_db.name + suffix).unlink(missing_ok=True)
    async with open_service(settings) as service:
        await service.chat(replace(message, text="log file gone", message_id="x4"))
        assert claude.requests[-1]["messages"][0] == {"role": "user", "content": "memory file gone"}


def test_the_writer_checkpoints_so_the_wal_stays_small(tmp_path):
    path = tmp_path / "log.db"
    wal = path.with_name(path.name + "-wal")
    reader = sqlite3.connect(path)  # like Datasette, a reader holding the file open
    with ConversationLog(path, checkpoint_seconds=0.05) as store:
        for n in range(300):
            store.submit(exchange(n, user_message="x" * 2000)).result()
        grown = wal.stat().st_size
        time.sleep(0.3)  # idle ticks: the writer checkpoints with TRUNCATE
        assert reader.execute("select count(*) from conversations").fetchone()[0] == 300
        assert wal.stat().st_size == 0 < grown
    reader.close()


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
        assert migrations.pending(db) == [] and len(migrations.applied(db)) == 10
        assert db.journal_mode == "wal"


PLAIN_STATS = """
select count(*) as total_conversations, count(distinct user_id) as unique_users,
       coalesce(sum(tokens_used), 0) as total_tokens from conversations
"""
PLAIN_MODELS = """
select model_used, count(*) as conversations, coalesce(sum(tokens_used), 0) as tokens
from conversations group by model_used order by conversations desc, model_used
"""


PLAIN_NAMES = """
select * from (select ifnull(guild_id, '') as guild_key, ifnull(user_name, '') as name, user_id from conversations
               union select ifnull(guild_id, ''), display_name, user_id from conversations where display_name is not null)
"""


def assert_per_server_summaries_match_plain_sql(store: ConversationLog) -> None:
    as_set = lambda rows: {tuple(row.values()) for row in rows}  # the table sorts names ignoring case
    assert as_set(store.query("select guild_key, name, user_id from user_names")) == as_set(store.query(PLAIN_NAMES))
    for guild in {row["guild_id"] for row in store.query("select guild_id from conversations")} - {None}:
        figures = store.stats(Scope.server(guild))
        [plain] = store.query(PLAIN_STATS.replace("from conversations", "from conversations where guild_id = ?"), [guild])
        assert {k: figures[k] for k in plain} == plain, guild
        assert figures["models"] == store.query(PLAIN_MODELS.replace("group by", "where guild_id = ? group by"),
                                                [guild])


def assert_summary_matches_plain_sql(store: ConversationLog) -> None:
    figures = store.stats()
    [plain] = store.query(PLAIN_STATS)
    assert {k: figures[k] for k in plain} == plain
    assert figures["models"] == store.query(PLAIN_MODELS)
    assert_per_server_summaries_match_plain_sql(store)
    for column in FACET_COLUMNS:  # what Datasette's column facet would count, scanning every row
        counted = store.query("select value, conversations from facet_counts where facet = ? order by value", [column])
        scanned = store.query(f"select {column} as value, count(*) as conversations from conversations "
                              f"where {column} is not null group by {column} order by value")
        assert counted == scanned and scanned, column


def test_summaries_equal_plain_sql_after_inserts_deletes_updates_and_migrations(tmp_path):
    path = tmp_path / "log.db"
    # A log from before the summary existed: migrate up to m006 only, then write rows.
    with Database(path) as db:
        migrations.apply(db, stop_before="m007_stats_summary")
        db["conversations"].insert_all(exchange(n, channel_id=None if n % 9 == 0 else f"c{n % 3}").row()
                                       for n in range(50))
    with ConversationLog(path) as store:  # m007 and m008 backfill from the existing rows
        assert_summary_matches_plain_sql(store)
        for n in range(50, 120):
            store.submit(exchange(n, model_used="static_fallback" if n % 7 == 0 else "claude-haiku-4-5",
                                  input_tokens=n, output_tokens=2 * n)).result()
        assert_summary_matches_plain_sql(store)
        for n in range(120, 130):
            store.submit(exchange(n, timestamp="2020-01-01 00:00:00", model_used="old-model")).result()
        assert store.forget("u1").result() > 0  # !forget
        assert store.delete_older_than(30).result() == 8  # retention (two of the ten were u1's)
        assert_summary_matches_plain_sql(store)
        assert "old-model" not in {m["model_used"] for m in store.stats()["models"]}
        store.submit(exchange(500, user_id="late")).result()
        store.run_job(lambda db: db.execute("update conversations set model_used = 'x', tokens_used = 9, "
                                            "user_name = 'renamed', channel_id = null where user_id = 'late'")).result()
        assert_summary_matches_plain_sql(store)
        assert store.forget("u2", Scope.server("g1")).result() > 0  # a server's admin's !forget
        assert store.query("select count(*) as n from conversations where user_id = 'u2'")[0]["n"] > 0
        assert_summary_matches_plain_sql(store)
        user_ids = {r["user_id"] for r in store.query("select user_id from conversations")}
        assert store.stats()["unique_users"] == len(user_ids)


def test_the_wal_is_truncated_when_it_passes_its_limit_even_with_readers(tmp_path):
    path = tmp_path / "log.db"
    wal = path.with_name(path.name + "-wal")
    stop = threading.Event()

    def read() -> None:
        conn = sqlite3.connect(path)
        while not stop.is_set():
            conn.execute("select count(*) from conversations").fetchone()
        conn.close()

    peak = 0
    with ConversationLog(path, wal_limit_bytes=1024 * 1024) as store:
        readers = [threading.Thread(target=read) for _ in range(4)]
        for reader in readers:
            reader.start()
        for n in range(600):
            store.submit(exchange(n, user_message="y" * 3000)).result()
            peak = max(peak, wal.stat().st_size if wal.exists() else 0)
        stop.set()
        for reader in readers:
            reader.join()
    assert 0 < peak < 3 * 1024 * 1024  # about 10 MB of rows went through a WAL kept near 1 MB


def test_the_sql_built_csv_reads_back_as_csv_writer_would_write_it(tmp_path):
    path = tmp_path / "log.db"
    awkward = ['quotes " and "" twice', "comma, and\r\nCRLF\nand LF", "", "%s %w %% printf", "émoji 🎉 עברית",
               "nul\x00inside", "x" * 70_000]
    with ConversationLog(path) as store:
        for n, text in enumerate(awkward):
            store.submit(exchange(n, user_message=text, bot_response=text[::-1], display_name=None)).result()
    with Database(path) as db:  # what another tool could leave in a numeric column
        db.execute("update conversations set latency_ms = 'slow, \"very\"', tokens_used = 1.5 where id = 2")
        db.execute("update conversations set latency_ms = ? where id = 3", ["nul\x00, in a number column"])
    store = ConversationLog(path)
    ours = b"".join(chunk for chunk, _ in store.csv_chunks(chunk_rows=3)).decode("utf-8")
    expected = "".join(record.decode("utf-8") for record in csv_records(store.export_rows()))
    assert list(csv.reader(io.StringIO(ours))) == list(csv.reader(io.StringIO(expected)))
    assert len(list(csv.reader(io.StringIO(ours)))) == len(awkward) + 1
