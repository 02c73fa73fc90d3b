"""Reading the log (bot/store/reads.py, export_sql.py): history by id or name on indexes, and the SQL-built CSV."""

from __future__ import annotations

import csv
import io

from sqlite_utils import Database

from bot.exports.files import csv_records
from bot.store import ConversationLog, queries
from bot.store.sqlite import sqlite3
from tests.support.logs import exchange


def test_history_matches_id_or_name_and_uses_indexes_only(tmp_path):
    with ConversationLog(tmp_path / "log.db") as store:
        for n in range(30):
            store.submit(exchange(n, display_name=f"Display {n % 5}")).result()
        by_id = store.user_history("u1")
        assert [r["user_message"] for r in by_id] == [f"q{n}" for n in (26, 21, 16, 11, 6, 1)]
        assert store.user_history("USER1") == by_id == store.user_history("display 1")
        assert len(store.user_history("u1", limit=3)) == 3
        assert store.user_history("nobody") == []
    with sqlite3.connect(tmp_path / "log.db") as conn:
        plan = " | ".join(
            row[3]
            for row in conn.execute("EXPLAIN QUERY PLAN " + queries.sql("user_history"), {"user": "x", "limit": 10})
        )
    assert "SCAN conversations" not in plan, plan
    assert plan.count("USING INDEX") + plan.count("USING COVERING INDEX") >= 3, plan


def test_the_sql_built_csv_reads_back_as_csv_writer_would_write_it(tmp_path):
    path = tmp_path / "log.db"
    awkward = [
        'quotes " and "" twice',
        "comma, and\r\nCRLF\nand LF",
        "",
        "%s %w %% printf",
        "émoji 🎉 עברית",
        "nul\x00inside",
        "x" * 70_000,
    ]
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
