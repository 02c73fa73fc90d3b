"""What must hold after a chaos soak, every fault undone and the bot stopped: one row per answered
message, empty spools, an intact database and index, summaries equal to plain SQL, and a replica
holding every row committed before the last fault began."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.chaos_report import Report, SoakFiles
from bot.config.settings import Settings
from bot.discord_front.live_reply import WRITING_MARK
from bot.replica import litestream as replication
from bot.store import ConversationLog
from bot.store.spool import Spool
from bot.store.sqlite import sqlite3
from tests.fake_discord import FakeDiscord
from tests.test_schema import assert_summary_matches_plain_sql

FAILURE_TEXT_MAX = 200  # characters of an assertion's message kept in the report
REPLICA_SLACK_S = 1  # the rows' timestamps hold whole seconds: a second's margin before the last fault


def check(files: SoakFiles, discord: FakeDiscord, last_fault_at: float, report: Report) -> None:
    answered = {
        str(m.reference["message_id"]) for m in discord.sent if m.reference and not m.content.endswith(WRITING_MARK)
    }
    report.answered = len(answered)
    with sqlite3.connect(files.log_db) as conn:
        rows = conn.execute("select message_id, reply_message_id, timestamp from conversations").fetchall()
        integrity = conn.execute("pragma integrity_check").fetchone()[0]
        try:
            conn.execute("insert into conversations_fts(conversations_fts) values ('integrity-check')")
            fts = "ok"
        except sqlite3.Error as err:
            fts = str(err)
    counts = Counter(row[0] for row in rows)
    report.rows = len(rows)
    report.lost = len(answered - set(counts))
    report.duplicated = sum(count - 1 for count in counts.values())
    replies = {m.id for m in discord.sent}
    report.reply_ids_missing = sum(
        1 for message_id, reply_id, _ in rows if message_id in answered and reply_id not in replies
    )
    log_db = files.log_db
    spools = [
        Spool(log_db.with_name(log_db.name + ".spool.jsonl")),
        Spool(log_db.with_name(log_db.name + ".replies.jsonl")),
    ]
    report.left_in_spool = sum(len(spool.read()) for spool in spools)
    report.fail_unless(report.lost == 0, f"{report.lost} answered message(s) have no row")
    report.fail_unless(report.duplicated == 0, f"{report.duplicated} duplicated row(s)")
    report.fail_unless(report.left_in_spool == 0, f"{report.left_in_spool} row(s) left in the spool")
    report.fail_unless(integrity == "ok", f"integrity_check: {integrity}")
    report.fail_unless(fts == "ok", f"FTS5 integrity-check: {fts}")
    check_summaries(files, report)
    check_replica(files, rows, last_fault_at, report)


def check_summaries(files: SoakFiles, report: Report) -> None:
    try:
        assert_summary_matches_plain_sql(ConversationLog(files.log_db))
    except AssertionError as err:
        report.failures.append(f"a summary table differs from its GROUP BY: {str(err)[:FAILURE_TEXT_MAX]}")


def check_replica(files: SoakFiles, rows: list[tuple[Any, ...]], last_fault_at: float, report: Report) -> None:
    settings = Settings.from_env(replica_env(files), dotenv_path=None)
    target = files.work / "restored.db"
    target.unlink(missing_ok=True)
    try:
        replication.restore(settings, "conversation_logs.db", target)
    except replication.ReplicaError as err:
        report.failures.append(f"restoring the replica: {err}")
        return
    with sqlite3.connect(target) as conn:
        restored = {row[0] for row in conn.execute("select message_id from conversations")}
    before = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(last_fault_at - REPLICA_SLACK_S))
    committed_before = {message_id for message_id, _, at in rows if at < before}
    report.replica_rows = len(restored)
    report.replica_missing = len(committed_before - restored)
    report.fail_unless(
        report.replica_missing == 0,
        f"the replica lacks {report.replica_missing} row(s) committed before the last fault",
    )


def replica_env(files: SoakFiles) -> dict[str, str]:
    """The settings a restore needs, as the bot's environment names them."""
    return {
        "CONVERSATION_LOG_DB": str(files.log_db),
        "BOT_MEMORY_DB": str(files.data / "bot_memory.db"),
        "LITESTREAM_REPLICA_URL": f"file://{files.replica}",
    }
