"""The writer thread (bot/store/writer.py): no duplicates, group commits, close flushes, and a small WAL."""

from __future__ import annotations

import threading
import time

from bot.store import ConversationLog
from bot.store.sqlite import sqlite3
from tests.support.logs import exchange, log_rows_at


def test_a_retried_write_is_never_a_duplicate(tmp_path):
    with ConversationLog(tmp_path / "log.db") as store:
        store.submit(exchange(1)).result()
        store.submit(exchange(1, bot_response="again")).result()
    assert [r["bot_response"] for r in log_rows_at(tmp_path / "log.db")] == ["a1"]


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
