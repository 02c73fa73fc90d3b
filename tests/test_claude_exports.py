"""A reply Claude did not finish (stop_reason max_tokens or refusal) is never trained on, and is shown as cut
in !history, the transcript page and Datasette's column description."""

from __future__ import annotations

import json

import pytest
import yaml

from bot.core.formatting import history_entry
from bot.exports.files import export_file, records
from bot.store import ConversationLog, Selection, migrate
from bot.store.exchange import INCOMPLETE_STOPS
from bot.store.sqlite import sqlite3
from plugins import transcript
from tests.support.web import METADATA, datasette_for

WHOLE, CUT, REFUSED, LATER = "A database in a file.", "It is fast because", "I can't help with that one.", "Good."
# (user message, reply, stop_reason, net rating): every reply rated up, so only stop_reason keeps one out
EXCHANGES = [
    ("what is sqlite?", WHOLE, "end_turn"),
    ("why is it fast?", CUT, "max_tokens"),
    ("something bad", REFUSED, "refusal"),
    ("thanks", LATER, "end_turn"),
]


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "conversation_logs.db"
    migrate(path)
    with sqlite3.connect(path) as conn:
        for n, (message, reply, stop) in enumerate(EXCHANGES):
            conn.execute(
                "insert into conversations (user_id, user_name, user_message, bot_response, model_used, "
                "message_id, reply_message_id, conversation_id, timestamp, stop_reason) "
                "values ('u1', 'alice', ?, ?, 'claude-haiku-4-5', ?, ?, 'c1', ?, ?)",
                (message, reply, f"m{n}", f"r{n}", f"2026-01-01 10:00:{n:02d}", stop),
            )
            conn.execute(
                "insert into ratings (reply_message_id, rater_id, value, rated_at) values (?, 'x', 1, 't')", (f"r{n}",)
            )
    return path


def export_lines(path, fmt: str, tmp_path) -> list[dict]:
    out = tmp_path / fmt
    out.mkdir()
    [file] = export_file(fmt, records(fmt, ConversationLog(path), Selection()), out).files
    return [json.loads(line) for line in file.read_text().splitlines()]


def test_openai_keeps_cut_and_refused_replies_as_context_with_weight_zero(log, tmp_path):
    [line] = export_lines(log, "openai", tmp_path)
    weights = {m["content"]: m.get("weight") for m in line["messages"] if m["role"] == "assistant"}
    assert weights == {WHOLE: None, CUT: 0, REFUSED: 0, LATER: None}


@pytest.mark.parametrize("fmt", ["bedrock", "chat-jsonl"])
def test_formats_without_weights_leave_the_turn_out(log, tmp_path, fmt):
    [line] = export_lines(log, fmt, tmp_path)
    assert [m["content"] for m in line["messages"] if m["role"] == "assistant"] == [WHOLE, LATER]
    assert [m["role"] for m in line["messages"]] == ["user", "assistant"] * 2


def test_kto_never_makes_a_cut_or_refused_reply_a_completion(log, tmp_path):
    lines = export_lines(log, "kto", tmp_path)
    assert [line["completion"][0]["content"] for line in lines] == [WHOLE, LATER]
    assert CUT in json.dumps(lines[1]["prompt"])  # still the context the user saw


def test_history_names_a_cut_reply_in_its_heading():
    row = {
        "timestamp": "2026-01-01 10:00:00",
        "model_used": "claude-haiku-4-5",
        "tokens_used": 9,
        "user_message": "q",
        "bot_response": "x " * 400,
        "stop_reason": "max_tokens",
    }
    heading, body = history_entry(row)
    assert heading.endswith("· cut at the length limit") and len(body) < 500
    assert "cut" not in history_entry({**row, "stop_reason": "end_turn"})[0]


async def test_the_transcript_marks_a_cut_reply_and_datasette_describes_the_column(log):
    ds = datasette_for(log)
    await ds.invoke_startup()
    html = (await ds.client.get("/conversation_logs/conversations.transcript")).text
    assert html.count("· cut at the length limit") == 1 and html.count("· refused by the model") == 1
    columns = yaml.safe_load(METADATA.read_text())["databases"]["conversation_logs"]["tables"]["conversations"]
    assert "max_tokens" in columns["columns"]["stop_reason"]
    assert transcript.INCOMPLETE_STOPS == INCOMPLETE_STOPS  # the plugin's copy agrees with the bot's
