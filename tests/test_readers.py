"""Read connections kept between reads (bot/store/readers.py): the schema parsed once, every commit seen,
checkpoints left free, and nothing kept that could hold an old snapshot or a replaced file."""

from __future__ import annotations

import os
import threading

import pytest

from bot.store import ConversationLog
from bot.store.chains import Window
from bot.store.readers import IDLE_READERS
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3
from tests.support.logs import exchange


def test_the_next_read_reuses_the_connection_and_its_parsed_schema(tmp_path):
    with ConversationLog(tmp_path / "log.db") as store:
        store.submit(exchange(1)).result()
        with store.reading() as first:
            first.execute("select count(*) from conversations").fetchone()
        with store.reading() as second:
            assert second is first
        assert store.scoped_history("u1", Scope.everything())[0]["user_message"] == "q1"


def test_a_kept_connection_sees_every_later_commit(tmp_path):
    """After each kind of read (a statement stepped once by next(), fetchone, a whole list), a new row shows."""
    with ConversationLog(tmp_path / "log.db") as store:
        reads = (
            lambda: store.stats()["total_conversations"],
            lambda: store.count_for_user("u1"),
            lambda: len(store.scoped_history("u1", Scope.everything(), limit=100)),
            lambda: len(store.reply_chain(None, ("c1",), "r1", None, Window(10, 10))),
        )
        for n, read in enumerate(reads):
            before = read()
            store.submit(exchange(5 * n + 1)).result()  # user u1, each time
            store.set_reply_id(f"m{5 * n + 1}", "r1").result()
            assert read() > before, n


def test_a_kept_connection_leaves_checkpoints_free(tmp_path):
    with ConversationLog(tmp_path / "log.db") as store:
        for n in range(5):
            store.submit(exchange(n)).result()
        store.stats()
        store.scoped_history("u1", Scope.everything())
        with sqlite3.connect(tmp_path / "log.db") as conn:
            busy, _, _ = conn.execute("pragma wal_checkpoint(truncate)").fetchone()
        assert busy == 0
        assert os.path.getsize(tmp_path / "log.db-wal") == 0


def test_a_read_that_raised_or_stopped_half_way_closes_its_connection(tmp_path):
    with ConversationLog(tmp_path / "log.db") as store:
        for n in range(3):
            store.submit(exchange(n)).result()
        try:
            with store.reading() as failed:
                failed.execute("select no_such_column from conversations")
        except sqlite3.OperationalError:
            pass
        rows = store.export_rows()
        next(rows), next(rows)  # the header and one row: a statement still running, a snapshot held
        rows.close()
        with store.reading() as db:
            assert db is not failed
        store.submit(exchange(3)).result()
        assert store.count_for_user("u3") == 1


def test_a_replaced_file_is_read_anew(tmp_path):
    """A connection opened on the file a restore replaced is not lent again."""
    with ConversationLog(tmp_path / "other.db") as other:
        for n in range(7):
            other.submit(exchange(n)).result()
    with ConversationLog(tmp_path / "log.db") as store:
        store.submit(exchange(1)).result()
        assert store.stats()["total_conversations"] == 1
    os.replace(tmp_path / "other.db", tmp_path / "log.db")
    assert store.stats()["total_conversations"] == 7
    store.readers.close()


def test_reads_on_many_threads_at_once_keep_a_few_connections(tmp_path):
    with ConversationLog(tmp_path / "log.db") as store:
        store.submit(exchange(1)).result()
        start = threading.Barrier(IDLE_READERS + 3)
        seen: list[int] = []

        def read() -> None:
            with store.reading() as db:
                start.wait(timeout=10)  # every thread holds its own connection at once
                seen.append(db.execute("select count(*) from conversations").fetchone()[0])

        threads = [threading.Thread(target=read) for _ in range(IDLE_READERS + 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert seen == [1] * (IDLE_READERS + 3)
        assert len(store.readers._idle) == IDLE_READERS


def test_closing_the_log_closes_its_readers_and_folds_the_wal_in(tmp_path):
    with ConversationLog(tmp_path / "log.db") as store:
        store.submit(exchange(1)).result()
        assert store.stats()["total_conversations"] == 1
    assert store.readers._idle == []
    assert not (tmp_path / "log.db-wal").exists()


def test_a_read_still_under_way_when_the_log_closes_closes_its_connection_at_its_end(tmp_path):
    """Before: the connection went back idle after close(), and stayed open with nothing left to close it."""
    store = ConversationLog(tmp_path / "log.db").open()
    store.submit(exchange(1)).result()
    with store.reading() as lent:
        store.close()
        assert lent.execute("select count(*) from conversations").fetchone()[0] == 1
    assert store.readers._idle == []
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        lent.execute("select 1")
