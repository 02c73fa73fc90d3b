"""The bench's "no SQLite write" baseline really leaves the write out. It had overridden a method
the store no longer had, so for months it measured the real write (issue 21)."""

from __future__ import annotations

from pathlib import Path

from bench.data import exchange, fresh, rows
from bench.loop_lag import BacklogWithoutSQLite, LogWithoutSQLite
from bot.store import ConversationLog
from bot.store.backlog import Backlog
from bot.store.spool import Outcome
from bot.store.sqlite import sqlite3

EXCHANGES = 20


def test_every_method_the_baseline_overrides_is_on_the_class_it_stands_in_for() -> None:
    for fake, real in ((BacklogWithoutSQLite, Backlog), (LogWithoutSQLite, ConversationLog)):
        for name, value in vars(fake).items():
            if callable(value) and not name.startswith("__"):
                assert callable(getattr(real, name, None)), f"{fake.__name__}.{name} overrides nothing"


def test_the_baseline_commits_every_exchange_without_writing_a_row(tmp_path: Path) -> None:
    path = tmp_path / "conversation_logs.db"
    fresh(path, True)
    with LogWithoutSQLite(path) as store:
        outcomes = [store.submit(exchange(values)).result(timeout=10) for values in rows(EXCHANGES)]
    assert outcomes == [Outcome.LOGGED] * EXCHANGES
    assert sqlite3.connect(path).execute("select count(*) from conversations").fetchone()[0] == 0


def test_the_real_log_writes_the_same_exchanges(tmp_path: Path) -> None:
    path = tmp_path / "conversation_logs.db"
    fresh(path, True)
    with ConversationLog(path) as store:
        for values in rows(EXCHANGES):
            store.submit(exchange(values)).result(timeout=10)
    assert sqlite3.connect(path).execute("select count(*) from conversations").fetchone()[0] == EXCHANGES
