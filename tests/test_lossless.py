"""Issue 19: the four ways a soak of mixed faults lost answered exchanges, each caused for real
(a full tmpfs, an immutable file on a loop-mounted ext4, a lock held by another connection)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace

import pytest

from bot.core.service import Incoming, open_service
from bot.replica.replicator import Replicator
from bot.store import ConversationLog
from bot.store.spool import Spool
from bot.store.sqlite import sqlite3
from tests.support.disks import fill, loop_ext4, set_immutable, tiny_tmpfs
from tests.support.logs import exchange, log_rows_at
from tests.support.replica_fixtures import poll, replicated_settings


@pytest.fixture
def tiny(tmp_path):
    with tiny_tmpfs(tmp_path / "tiny") as mount_point:
        yield mount_point


@pytest.fixture
def ext4(tmp_path):
    with loop_ext4(tmp_path / "ext4.img", tmp_path / "ext4") as mount_point:
        yield mount_point


def held_on_a_full_disk(store: ConversationLog) -> None:
    """No reserve left and not a byte free: neither SQLite nor the spool can take a row."""
    store.spool.reserve.unlink()
    fill(store.path.parent)


# -- 1. rows held in memory ---------------------------------------------------------------------


def test_rows_held_in_memory_reach_the_spool_at_stop_once_it_has_room(tiny, tmp_path):
    path = tiny / "log.db"
    store = ConversationLog(path, busy_timeout=0.2).open()
    store.submit(exchange(1)).result()
    locker = sqlite3.connect(path, isolation_level=None)
    held_on_a_full_disk(store)
    assert store.submit(exchange(2)).result() == "held"
    (tiny / "filler").unlink()  # room for the spool again, while the lock still refuses SQLite
    locker.execute("BEGIN IMMEDIATE")
    lost = store.close()
    locker.execute("ROLLBACK")
    locker.close()
    assert [row["message_id"] for row in store.spool.read()] == ["m2"]
    assert lost == []
    with ConversationLog(path):  # the next start replays it
        pass
    assert [r["message_id"] for r in log_rows_at(path)] == ["m1", "m2"]


def test_rows_no_disk_can_take_at_stop_are_named_in_an_error_line(tiny, caplog):
    store = ConversationLog(tiny / "log.db").open()
    held_on_a_full_disk(store)
    assert store.submit(exchange(7)).result() == "held"
    returned = store.close()
    lost = [r for r in caplog.records if r.levelno == logging.ERROR and "LOST" in r.message]
    assert len(lost) == 1 and "m7" in lost[0].message and str(tiny / "log.db") in lost[0].message
    assert returned == ["m7"]


async def test_an_exchange_held_in_memory_is_not_reported_logged(tiny, settings):
    settings = replace(settings, log_db=tiny / "conversation_logs.db")
    async with open_service(settings) as service:
        first = await service.chat(Incoming("u1", "alice", "c1", "room", message_id="x1"))
        held_on_a_full_disk(service.store)
        second = await service.chat(Incoming("u1", "alice", "c1", "no room", message_id="x2"))
        (tiny / "filler").unlink()
    assert first.logged and not second.logged
    assert [r["message_id"] for r in log_rows_at(settings.log_db)] == ["x1", "x2"]  # landed at stop


# -- 2. a log opened while unwritable ---------------------------------------------------------------


def test_a_log_opened_while_immutable_is_written_once_it_is_writable(ext4):
    path = ext4 / "log.db"
    with ConversationLog(path) as store:
        store.submit(exchange(1)).result()
    set_immutable(path, True)
    store = ConversationLog(path).open()  # SQLite opens it read-only without a word
    try:
        assert store.submit(exchange(2)).result() == "spooled"
        set_immutable(path, False)
        assert store.submit(exchange(3)).result() == "logged"
    finally:
        store.close()
    assert [r["message_id"] for r in log_rows_at(path)] == ["m1", "m2", "m3"]
    assert not store.spool.path.exists()


# -- 3. the spool on a disk that fills mid-append ----------------------------------------------------


def test_a_spool_append_that_fills_the_disk_leaves_no_fragment(tiny):
    spool = Spool(tiny / "log.db.spool.jsonl")
    spool.keep_reserve()
    spool.append([exchange(1).row()])
    fill(tiny)  # the spool's last page still has room for part of a large row, not all of it
    spool.append([exchange(2, user_message="x" * 20_000).row()])  # the reserve makes room for the retry
    lines = spool.path.read_text().splitlines()
    assert [json.loads(line)["message_id"] for line in lines] == ["m1", "m2"]


def test_the_reader_recovers_a_whole_row_appended_after_a_fragment(tmp_path, caplog):
    spool = Spool(tmp_path / "log.db.spool.jsonl")
    spool.append([exchange(1).row()])
    with open(spool.path, "a") as handle:  # a process killed mid-append: half a row, no newline
        handle.write('{"user_id": "u3", "user_message": "half {of a')
    spool.append([exchange(2, user_message='braces {"inside": 1}').row()])
    assert [row["message_id"] for row in spool.read()] == ["m1", "m2"]
    assert spool.read()[1]["user_message"] == 'braces {"inside": 1}'
    assert "skipped a fragment" in caplog.text


# -- 4. the reply's id, and the replica's watchdog ------------------------------------------------


def test_reply_ids_refused_by_a_locked_log_land_with_their_rows(tmp_path):
    path = tmp_path / "log.db"
    store = ConversationLog(path, busy_timeout=0.2).open()
    try:
        store.submit(exchange(1)).result()
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        assert store.submit(exchange(2)).result() == "spooled"
        store.set_reply_id("m1", "r1").result()  # its row is in the table
        store.set_reply_id("m2", "r2").result()  # its row is in the spool
        locker.execute("ROLLBACK")
        locker.close()
        assert store.submit(exchange(3)).result() == "logged"
    finally:
        store.close()
    assert [(r["message_id"], r["reply_message_id"]) for r in log_rows_at(path)] == [
        ("m1", "r1"),
        ("m2", "r2"),
        ("m3", None),
    ]
    assert not store.backlog.replies.path.exists()


@pytest.mark.slow
def test_the_replica_watchdog_outlives_a_full_disk(tmp_path, caplog):
    settings = replicated_settings(tmp_path, f"file://{tmp_path}/replica", LITESTREAM_LAG_ALARM_SECONDS="0.4")
    with tiny_tmpfs(settings.log_db.parent) as data, ConversationLog(settings.log_db, own_checkpoints=False) as store:
        replicator = Replicator(settings).start()
        try:
            store.submit(exchange(1)).result()
            watch = next(t for t in replicator._threads if t.name == "replica-watch")
            filler = fill(data)  # the next lag check cannot write Litestream's config
            poll(
                lambda: "replica watchdog" in caplog.text or not watch.is_alive(),
                10,
                what="the lag check on a full disk",
            )
            assert watch.is_alive()
            assert "replica watchdog: [Errno 28] No space left on device" in caplog.text
            config = data / ".litestream.yml"
            freed = time.time()
            filler.unlink()
            # Every lag check writes the config first: a new one shows the watch is checking again.
            poll(lambda: config.stat().st_mtime >= freed, 20, what="a lag check after the disk has room")
        finally:
            replicator.stop()
    errors = [r for r in caplog.records if "replica watchdog" in r.message]
    assert len(errors) <= 1  # told once per outage, not at every check


@pytest.mark.slow
def test_the_bot_starts_on_a_full_disk_and_replicates_once_it_has_room(tmp_path, caplog):
    settings = replicated_settings(tmp_path, f"file://{tmp_path}/replica", LITESTREAM_LAG_ALARM_SECONDS="0.4")
    with tiny_tmpfs(settings.log_db.parent) as data, ConversationLog(settings.log_db, own_checkpoints=False) as store:
        store.submit(exchange(1)).result()
        filler = fill(data)  # no room for Litestream's config at start
        replicator = Replicator(settings).start()
        try:
            assert "cannot start litestream yet" in caplog.text
            filler.unlink()
            poll(lambda: replicator._process is not None, 10, what="litestream started by the watchdog")
        finally:
            replicator.stop()
