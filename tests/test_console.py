"""`python -m bot console`: the same pipeline in a terminal, run as a real process."""

from __future__ import annotations

import csv
import json

import pytest
from sqlite_utils import Database

from tests.support.processes import clean_env, run_bot_cli

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser


async def test_console_chats_logs_and_runs_the_three_commands(tmp_path, claude):
    env = clean_env(tmp_path, ANTHROPIC_API_KEY=claude.api_key, ANTHROPIC_BASE_URL=claude.url, BOT_API_MAX_RETRIES="0")
    script = b"hello console\nand again\n!stats\n!history\n!export\n"
    code, out, err = await run_bot_cli("console", env=env, stdin=script, cwd=tmp_path)

    assert code == 0, err
    assert "bot [claude-haiku-4-5]> Echo #1: hello console" in out
    assert "Echo #2: and again" in out  # memory context reached Claude
    assert "Total conversations: 2" in out
    assert "User: hello console" in out
    with Database(tmp_path / "log.db") as db:
        rows = list(db["conversations"].rows_where(order_by="id"))
    assert [r["user_message"] for r in rows] == ["hello console", "and again"]
    assert rows[0]["conversation_id"] == rows[1]["conversation_id"]
    [export] = list(tmp_path.glob("conversation_export_*.csv"))
    with open(export, newline="") as handle:
        assert [r["user_message"] for r in csv.DictReader(handle)] == ["hello console", "and again"]


async def test_export_takes_the_discord_names_in_any_case_and_all_changes_nothing(tmp_path, claude):
    env = clean_env(tmp_path, ANTHROPIC_API_KEY=claude.api_key, ANTHROPIC_BASE_URL=claude.url, BOT_API_MAX_RETRIES="0")
    script = b"hello\n!export all CHAT\n!quit now\nnever read\n"
    code, out, err = await run_bot_cli("console", env=env, stdin=script, cwd=tmp_path)

    assert code == 0, err
    assert "Exported 1 conversation to conversation_export_" in out  # chat: a line a conversation
    [export] = list(tmp_path.glob("conversation_export_*"))
    assert export.name.endswith("_chat.jsonl")
    assert [m["role"] for m in json.loads(export.read_text())["messages"]][-2:] == ["user", "assistant"]
    with Database(tmp_path / "log.db") as db:
        assert [r["user_message"] for r in db["conversations"].rows] == ["hello"]
