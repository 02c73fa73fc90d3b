"""The spool (bot/store/spool.py): rows SQLite refused wait in a file beside the log and land once, in order."""

from __future__ import annotations

import threading

from sqlite_utils import Database

from bot.store import ConversationLog, connect, migrate
from bot.store.backlog import Backlog
from bot.store.spool import Spool
from bot.store.sqlite import sqlite3
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


class SlowReadSpool(Spool):
    """A spool whose replay reads, then lets `meanwhile` run in another thread before going on."""

    def __init__(self, path, meanwhile):
        super().__init__(path)
        self.meanwhile = meanwhile
        self.thread = None

    def read(self):
        rows = super().read()
        if rows and self.thread is None:
            self.thread = threading.Thread(target=self.meanwhile)
            self.thread.start()
            self.thread.join(timeout=0.5)  # long enough to append, were nothing holding it back
        return rows


def test_a_row_spooled_by_one_process_while_another_replays_is_kept(tmp_path):
    """Two bot processes share one log and its spool: a replay must not delete a row appended after it read."""
    path = tmp_path / "log.db"
    migrate(path)
    spool_path = path.with_name(path.name + ".spool.jsonl")
    other = Backlog(Spool(spool_path), path)  # the second process, whose write SQLite refuses
    refused = Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False))
    Spool(spool_path).append([exchange(1).row()])  # waiting from earlier
    replaying = Backlog(SlowReadSpool(spool_path, lambda: other.write(refused, [exchange(2).row()])), path)
    db = connect(path)
    assert replaying.write(db, [exchange(3).row()]) == "logged"
    replaying.spool.thread.join()
    assert replaying.write(db, []) == "logged"  # the next write replays whatever was spooled meanwhile
    db.close()
    assert sorted(r["message_id"] for r in log_rows_at(path)) == ["m1", "m2", "m3"]
