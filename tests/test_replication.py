"""Replication with the real `litestream` binary: file:// and sftp:// replicas on this machine."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.config.settings import ConfigError, Settings
from bot.core.memory import Memory
from bot.replica import litestream as replication
from bot.replica.replicator import Replicator
from bot.store import WAL_LIMIT_BYTES, ConversationLog
from bot.store.blobs import _writing as blobs_writing
from bot.store.sqlite import sqlite3
from tests.support import PROJECT
from tests.support.harness import running_bot
from tests.support.processes import clean_env, run_bot_cli
from tests.support.replica_fixtures import (
    SFTPServer,
    in_sync,
    message_ids,
    poll,
    replica_exchange,
    replicated_settings,
    with_password,
)


@pytest.fixture
def sftp(tmp_path):
    (tmp_path / "sftp-root").mkdir()
    server = SFTPServer(tmp_path / "sftp-root").start()
    yield server
    server.close()


# -- settings and config ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, words",
    [
        ("ftp://host/path", "must start with s3://, file://, sftp://"),
        ("file://relative/path", "file:///absolute/path"),
        ("sftp://127.0.0.1/path", "must name the sftp user"),
        ("sftp://u:pw@127.0.0.1/path", "must not hold a password"),
    ],
)
def test_a_bad_replica_url_is_one_line_naming_the_variable(url, words):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"LITESTREAM_REPLICA_URL": url}, dotenv_path=None)
    assert "LITESTREAM_REPLICA_URL" in str(caught.value) and words in str(caught.value)


@pytest.mark.slow
async def test_the_cli_answers_an_unknown_scheme_with_one_line(tmp_path):
    code, _out, err = await run_bot_cli("status", env=clean_env(tmp_path, LITESTREAM_REPLICA_URL="gopher://x/y"))
    assert code != 0 and err.strip().count("\n") == 0
    assert "LITESTREAM_REPLICA_URL must start with" in err


@pytest.mark.slow
def test_the_generated_config_is_valid_for_litestream_and_holds_no_secret(tmp_path):
    settings = replicated_settings(
        tmp_path,
        "s3://bucket/bot",
        LITESTREAM_ACCESS_KEY_ID="AKIDEXAMPLE",
        LITESTREAM_SECRET_ACCESS_KEY="very-secret-key",
        LITESTREAM_RETENTION_HOURS="6",
        LITESTREAM_ENDPOINT="http://127.0.0.1:9000",
    )
    path = replication.write_config(settings)
    text = path.read_text()
    assert "very-secret-key" not in text and "AKIDEXAMPLE" not in text
    parsed = yaml.safe_load(text)
    assert parsed["snapshot"] == {"interval": "21600s", "retention": "21600s"}
    log_db = parsed["dbs"][0]
    assert log_db["truncate-page-n"] * replication.PAGE_SIZE == WAL_LIMIT_BYTES
    assert log_db["replica"]["url"] == "s3://bucket/bot/conversation_logs.db"
    assert log_db["replica"]["secret-access-key"] == "${LITESTREAM_SECRET_ACCESS_KEY}"
    # The real binary reads and validates it (and expands the secrets from the environment).
    listed = subprocess.run(
        [replication.litestream_binary(), "databases", "-config", str(path)],
        env=replication.child_env(settings),
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    assert str(settings.log_db) in listed.stdout and str(settings.memory_db) in listed.stdout


# -- commits Litestream can ship --------------------------------------------------------------------
# A commit fsynced before SQLite publishes it is one Litestream may ship and SQLite then drop (the writer
# killed in between): bot/store/sqlite.py. Before the fix every connection here answered 2 (FULL).

SYNC_NORMAL, SYNC_FULL = 1, 2  # what PRAGMA synchronous answers


def test_under_litestream_every_writing_connection_publishes_its_commit_without_an_fsync_first(tmp_path):
    replicated = {}
    with ConversationLog(tmp_path / "log.db", own_checkpoints=False, keep_attachments=True) as store:
        replicated["log writer"] = store.run_job(lambda db: db.execute("pragma synchronous").fetchone()[0]).result()
        with blobs_writing(store.blobs.store.path, store.blobs.store.replicated) as conn:
            replicated["kept files"] = conn.execute("pragma synchronous").fetchone()[0]
    memory = Memory(tmp_path / "memory.db", replicated=True).open()
    replicated["memory"] = memory._open_db.execute("pragma synchronous").fetchone()[0]
    memory.close()
    assert replicated == {"log writer": SYNC_NORMAL, "kept files": SYNC_NORMAL, "memory": SYNC_NORMAL}


def test_without_a_replica_each_commit_is_fsynced_as_sqlite_does_by_default(tmp_path):
    alone = {}
    with ConversationLog(tmp_path / "log.db", keep_attachments=True) as store:
        alone["log writer"] = store.run_job(lambda db: db.execute("pragma synchronous").fetchone()[0]).result()
        with blobs_writing(store.blobs.store.path, store.blobs.store.replicated) as conn:
            alone["kept files"] = conn.execute("pragma synchronous").fetchone()[0]
    memory = Memory(tmp_path / "memory.db").open()
    alone["memory"] = memory._open_db.execute("pragma synchronous").fetchone()[0]
    memory.close()
    assert alone == {"log writer": SYNC_FULL, "kept files": SYNC_FULL, "memory": SYNC_FULL}


# -- checkpoints -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_litestream_owns_checkpoints_the_wal_stays_bounded_and_no_frame_is_missed(tmp_path):
    settings = replicated_settings(tmp_path, f"file://{tmp_path}/replica")
    big = "x" * 3000  # about 10 kB of WAL a row with the search index: 40 MB for the run
    with ConversationLog(settings.log_db, own_checkpoints=False) as store:
        replicator = Replicator(settings).start()
        try:
            poll(lambda: replication._local_ltx(settings.log_db), 10, what="litestream started")
            # What the bot did alone, TRUNCATE, cannot run under Litestream's read lock: busy (1).
            conn = sqlite3.connect(settings.log_db, timeout=0.5)
            assert conn.execute("pragma wal_checkpoint(TRUNCATE)").fetchone()[0] == 1
            conn.close()
            peak = 0
            for batch in range(40):
                futures = [store.submit(replica_exchange(batch * 100 + n, text=big)) for n in range(100)]
                assert {f.result() for f in futures} == {"logged"}
                peak = max(peak, Path(f"{settings.log_db}-wal").stat().st_size)
            poll(lambda: in_sync(settings), 20, what="replica in sync")
        finally:
            replicator.stop()
    restored = tmp_path / "restored.db"
    assert replication.restore(settings, "conversation_logs.db", restored)
    assert message_ids(restored) == message_ids(settings.log_db)  # every row, once, in order
    assert len(message_ids(restored)) == 4000
    # Litestream's truncate-page-n is the bot's own 16 MB bound; one burst of commits may pass it
    # before Litestream's next look (every MONITOR_INTERVAL_MS).
    assert peak <= 2 * WAL_LIMIT_BYTES, f"WAL reached {peak / 2**20:.1f} MB"


# -- restore, point in time, privacy ---------------------------------------------------------------


@pytest.mark.slow
async def test_point_in_time_restore_before_a_forget_into_a_new_file(tmp_path):
    settings = replicated_settings(tmp_path, f"file://{tmp_path}/replica")
    env = clean_env(
        tmp_path,
        LITESTREAM_REPLICA_URL=settings.replica.url,
        CONVERSATION_LOG_DB=str(settings.log_db),
        BOT_MEMORY_DB=str(settings.memory_db),
    )
    with ConversationLog(settings.log_db, own_checkpoints=False) as store:
        replicator = Replicator(settings).start()
        try:
            for n in range(5):
                store.submit(replica_exchange(n, "alice")).result()
                store.submit(replica_exchange(n, "bob")).result()
            poll(lambda: in_sync(settings), 20, what="replica in sync")
            time.sleep(1.1)  # replica times have whole seconds: the forget comes in a later one
            before_forget = datetime.now(UTC).replace(microsecond=0)
            time.sleep(1.1)
            assert store.forget("alice").result() == 5
            poll(lambda: in_sync(settings), 20, what="the forget replicated")
        finally:
            replicator.stop()
    live = message_ids(settings.log_db)

    code, out, err = await run_bot_cli(
        "restore", "--timestamp", f"{before_forget:%Y-%m-%d %H:%M:%S}", str(tmp_path / "before.db"), env=env
    )
    assert code == 0, err
    assert "10 conversations" in out
    assert sorted(message_ids(tmp_path / "before.db")) == sorted([f"alice-{n}" for n in range(5)] + live)
    # The deletion reached the replica: its latest state has no row of alice.
    code, out, err = await run_bot_cli("restore", str(tmp_path / "latest.db"), env=env)
    assert code == 0, err
    assert message_ids(tmp_path / "latest.db") == live == [f"bob-{n}" for n in range(5)]
    # Never over a file, the live log least of all; the live log is unchanged.
    for target in (tmp_path / "before.db", settings.log_db):
        code, out, err = await run_bot_cli("restore", str(target), env=env)
        assert code == 1 and err.strip().count("\n") == 0 and "already exists" in err
    assert message_ids(settings.log_db) == live


@pytest.mark.slow
def test_a_missing_log_is_restored_at_start_and_a_missing_replica_starts_a_new_one(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    settings = replicated_settings(tmp_path, f"file://{tmp_path}/replica")
    replication.restore_missing(settings)  # nothing anywhere yet: a new log
    assert "no replica of conversation_logs.db yet" in caplog.text and not settings.log_db.exists()
    with ConversationLog(settings.log_db, own_checkpoints=False) as store:
        replicator = Replicator(settings).start()
        store.submit(replica_exchange(1)).result()
        poll(lambda: in_sync(settings), 20, what="replica in sync")
        replicator.stop()
    for path in settings.log_db.parent.iterdir():  # the disk is gone
        subprocess.run(["rm", "-rf", str(path)], check=True)
    replication.restore_missing(settings)
    assert message_ids(settings.log_db) == ["alice-1"]
    assert f"restored {settings.log_db} from {settings.replica.url}/conversation_logs.db" in caplog.text


# -- sftp, bad credentials, an unreachable replica -------------------------------------------------


@pytest.mark.slow
def test_sftp_replica_bad_password_and_unreachable_are_one_line_each(tmp_path, sftp):
    settings = with_password(replicated_settings(tmp_path, sftp.url), host_key=sftp.host_key)
    with ConversationLog(settings.log_db, own_checkpoints=False) as store:
        replicator = Replicator(settings).start()
        for n in range(20):
            store.submit(replica_exchange(n)).result()
        poll(lambda: in_sync(settings), 20, what="sftp replica in sync")
        replicator.stop()
    assert replication.restore(settings, "conversation_logs.db", tmp_path / "over-sftp.db")
    assert len(message_ids(tmp_path / "over-sftp.db")) == 20

    wrong = with_password(settings, "wrong-password")
    line = replication.status_line(wrong)
    assert line.startswith("replica unreachable") and "\n" not in line
    assert "unable to authenticate" in line or "auth" in line.lower(), line
    sftp.stop()
    line = replication.status_line(settings)
    assert line.startswith("replica unreachable") and "\n" not in line
    assert "connection refused" in line.lower(), line


@pytest.mark.slow
def test_the_bot_keeps_logging_when_the_replica_is_away_alarms_and_catches_up(tmp_path, sftp, caplog):
    caplog.set_level(logging.INFO)
    settings = with_password(replicated_settings(tmp_path, sftp.url, LITESTREAM_LAG_ALARM_SECONDS="2"))
    with ConversationLog(settings.log_db, own_checkpoints=False) as store:
        replicator = Replicator(settings).start()
        try:
            store.submit(replica_exchange(0)).result()
            poll(lambda: in_sync(settings), 20, what="sftp replica in sync")
            sftp.stop()
            outcomes = {store.submit(replica_exchange(n)).result() for n in range(1, 30)}
            assert outcomes == {"logged"}  # the replica's absence costs the log nothing
            poll(lambda: "ALARM replica lag" in caplog.text, 15, what="the lag alarm")
            poll(lambda: "failing" in caplog.text, 15, what="the outage line")
            sftp.start()
            poll(lambda: "has caught up" in caplog.text, 40, what="catching up")
        finally:
            replicator.stop()
    assert [r.message for r in caplog.records if "ALARM" in r.message].__len__() == 1  # once per outage
    assert replication.restore(settings, "conversation_logs.db", tmp_path / "after.db")
    assert message_ids(tmp_path / "after.db") == [f"alice-{n}" for n in range(30)]


# -- !stats for admins, and the bench's quick run --------------------------------------------------


@pytest.mark.slow
async def test_stats_tells_the_bots_owners_the_replica_lag_by_dm_and_no_one_else(
    tmp_path, settings, discord_server, members
):
    """The replica is the deployment's, not one server's: its manager (modmin) sees no more than alice."""
    alice, _, manager = members
    owner = discord_server.add_member("botowner")
    # A 2 s alarm: the replicator's watch, whose measure !stats shows, looks every second.
    replicated = replicated_settings(tmp_path, f"file://{tmp_path}/replica", LITESTREAM_LAG_ALARM_SECONDS="2")
    settings = replace(
        settings,
        log_db=replicated.log_db,
        memory_db=replicated.memory_db,
        replica=replicated.replica,
        owner_ids=frozenset({int(owner.id)}),
    )
    replicator = Replicator(settings).start()
    try:
        async with running_bot(settings, discord_server, replica=replicator):
            await discord_server.user_says(alice, "hello", mention_bot=True)
            await discord_server.wait_for_sent(1)
            await asyncio.to_thread(poll, lambda: in_sync(settings), 20, 0.1, "replica in sync")
            watched = replicator.status
            await asyncio.to_thread(poll, lambda: "last transaction" in watched().line, 20, 0.1, "the watch measured")
            for n, who in ((3, owner), (4, manager), (5, alice)):  # the owner's replica line comes by DM
                await discord_server.user_says(who, "!stats")
                await discord_server.wait_for_sent(n)
    finally:
        replicator.stop()
    owner_fields, manager_fields, alice_fields = (
        {f["name"]: f["value"] for f in m.embeds[0]["fields"]}
        for m in discord_server.sent[1:5]
        if m.channel_id != discord_server.dm_channel_id
    )
    [by_dm] = [m for m in discord_server.sent if m.channel_id == discord_server.dm_channel_id]
    assert re.search(r"last transaction 0+\d+ written .*, (in sync|lag \d+\.\d s)$", by_dm.embeds[0]["description"])
    assert "Replica" not in owner_fields and "Replica" not in manager_fields and "Replica" not in alice_fields


@pytest.mark.slow
def test_the_replication_bench_runs_quickly():
    done = subprocess.run(
        [sys.executable, "-m", "bench.replication", "--quick"], cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for what in ("replication off", "Litestream replicating", "restore of that log", "replica holds every row"):
        assert what in done.stdout
