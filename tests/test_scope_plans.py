"""Query plans of one user's rows in a server: the user's index leads, not the server's (m024).

With no statistics SQLite rated (guild_id, timestamp) as good as (user_id, timestamp) and took the server's:
at 1,000,000 rows in one server, !history of a user with 2 rows took 786 ms where the user's index takes 1 ms.
Plans do not depend on the number of rows here (no ANALYZE), so an empty log shows them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import ConversationLog
from bot.store.export_sql import Selection
from bot.store.reads import channels_sql, scoped_history_sql
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3
from tests.support.logs import exchange

USER_INDEX = "idx_conversations_user_id_timestamp"
SERVER_INDEX = "idx_conversations_guild_id_timestamp"


def plan(path: Path, sql: str, params: dict[str, object] | None = None) -> str:
    with sqlite3.connect(path) as conn:
        return " | ".join(row[3] for row in conn.execute("explain query plan " + sql, params or {}))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    with ConversationLog(tmp_path / "log.db"):
        pass
    return tmp_path / "log.db"


@pytest.mark.parametrize("scope", [Scope.server("g1"), Scope.own("u1", "g1")], ids=["server", "own in a server"])
def test_history_and_channels_of_a_user_in_a_server_go_by_the_users_index(log_path, scope):
    for sql, params in (scoped_history_sql("u1", scope), channels_sql("u1", scope)):
        found = plan(log_path, sql, params)
        assert USER_INDEX in found and SERVER_INDEX not in found, found


def test_counting_and_exporting_ones_own_rows_in_a_server_go_by_the_users_index(log_path):
    where, params = Selection(scope=Scope.own("u1", "g1")).where()
    found = plan(log_path, f"select count(*) from conversations c where {where}", params)
    assert USER_INDEX in found and SERVER_INDEX not in found, found


def test_a_whole_servers_rows_still_go_by_the_servers_index(log_path):
    where, params = Scope.server("g1").where()
    found = plan(log_path, f"select count(*) from conversations c where {where}", params)
    assert SERVER_INDEX in found, found


def test_forget_in_a_server_finds_the_users_rows_by_the_users_index(tmp_path):
    """Every statement of !forget that narrows to the user, as the writer ran it (traced on its connection)."""
    ran: list[str] = []
    with ConversationLog(tmp_path / "log.db") as store:
        for n in range(8):
            store.submit(exchange(n)).result()
        store.run_job(lambda db: db.conn.set_trace_callback(ran.append)).result()
        assert store.forget("u1", Scope.server("g1")).result() == 1  # exchange 1: u1 in g1
        store.run_job(lambda db: db.conn.set_trace_callback(None)).result()
        assert store.scoped_history("u1", Scope.server("g1")) == []
    # Each trigger's step is traced with its statement's text again: each statement once.
    narrowing = sorted({sql for sql in ran if "c.user_id = 'u1'" in sql})
    assert len(narrowing) == 3, narrowing  # the channels for memory, the ratings of the rows, the rows
    for sql in narrowing:
        found = plan(tmp_path / "log.db", sql)
        assert SERVER_INDEX not in found, (sql, found)


def test_history_in_a_server_reads_the_same_rows(log_path):
    with ConversationLog(log_path) as store:
        for n in range(24):
            store.submit(exchange(n, guild_id="g1" if n % 3 else "g2")).result()
        rows = store.scoped_history("u1", Scope.server("g1"), limit=3)
        assert [r["user_message"] for r in rows] == ["q16", "q11", "q1"]
        assert store.channels_of("u1", Scope.server("g2")) == {"c1"}
        assert store.channels_of("u1", Scope.server("g9")) == set()
