"""The spool (bot/store/spool.py): rows SQLite refused wait in a file beside the log and land once, in order."""

from __future__ import annotations

import sqlite3

from bot.store import ConversationLog
from tests.conftest import exchange, log_rows_at


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
