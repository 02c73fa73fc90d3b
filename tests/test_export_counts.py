"""Each export's message names what its count counts, and the count is what the file holds: a row per exchange
(csv, jsonl, requests), a line per conversation (chat-jsonl, openai, bedrock), a line per rated reply (kto)."""

from __future__ import annotations

import csv
import io
import os
import pty
import subprocess
import sys

import pytest

from bot.core.export_formats import FORMATS, records
from bot.core.formatting import export_note, too_big_message
from bot.exports.files import EXCLUDES_FALLBACK_BY_DEFAULT, export_file
from bot.store import ConversationLog, Selection, migrate
from bot.store.sqlite import sqlite3
from tests.support import PROJECT
from tests.support.cli import run_on_log
from tests.support.processes import clean_env

# (conversation, user message, reply, net rating or None): two conversations, five exchanges, three rated
EXCHANGES = [
    ("c-a", "what is sqlite?", "A database in a file.", 1),
    ("c-a", "is it fast?", "Fast enough.", -1),
    ("c-a", "thanks", "You're welcome.", None),
    ("c-b", "hello", "Hello there.", 1),
    ("c-b", "bye", "Goodbye.", None),
]
# What each format's lines hold in that log: (count, noun)
EXPECTED = {
    "csv": (5, "exchanges"),
    "jsonl": (5, "exchanges"),
    "requests": (5, "exchanges"),
    "chat-jsonl": (2, "conversations"),
    "openai": (2, "conversations"),
    "bedrock": (2, "conversations"),
    "kto": (3, "rated replies"),
}


def write_log(path, exchanges) -> None:
    migrate(path)
    with sqlite3.connect(path) as conn:
        for n, (conversation, message, reply, rating) in enumerate(exchanges):
            conn.execute(
                "insert into conversations (user_id, user_name, guild_id, user_message, bot_response, model_used, "
                "message_id, reply_message_id, conversation_id, timestamp) "
                "values ('u1', 'alice', 'g1', ?, ?, 'claude-haiku-4-5', ?, ?, ?, ?)",
                (message, reply, f"m{n}", f"r{n}", conversation, f"2026-01-01 10:00:{n:02d}"),
            )
            if rating is not None:
                conn.execute(
                    "insert into ratings (reply_message_id, rater_id, value, rated_at) "
                    "values (?, 'rater', ?, '2026-01-02 00:00:00')",
                    (f"r{n}", rating),
                )


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_log(path, EXCHANGES)
    return path


def lines_in(path) -> int:
    """The file's lines, or its CSV records after the header."""
    text = path.read_text()
    if path.suffix == ".csv":
        return len(list(csv.reader(io.StringIO(text)))) - 1
    return len(text.splitlines())


def test_every_format_has_its_expectation():
    assert set(EXPECTED) == set(FORMATS)


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_the_discord_note_counts_what_the_file_holds(log, tmp_path, fmt):
    """!export and /export send export_note with the file; too_big_message when nothing fits."""
    selection = Selection(exclude_fallback=fmt in EXCLUDES_FALLBACK_BY_DEFAULT)
    result = export_file(fmt, records(fmt, ConversationLog(log), selection), tmp_path)
    [written] = result.files
    count, noun = EXPECTED[fmt]
    assert lines_in(written) == count
    assert export_note(result, written, 1) == f"{count} {noun}."
    assert too_big_message(result, None).startswith(f"The export of {count} {noun} is too big")


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_the_cli_counts_what_the_file_holds(log, tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    result = run_on_log(log, "export", "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    count, noun = EXPECTED[fmt]
    assert f"Exported {count} {noun} as {fmt} to {out}" in result.output
    assert len(out.read_text().splitlines()) - (fmt == "csv") == count


@pytest.mark.parametrize(
    ("fmt", "said"), [("csv", "1 exchange"), ("chat-jsonl", "1 conversation"), ("kto", "1 rated reply")]
)
def test_one_is_said_in_the_singular(tmp_path, fmt, said):
    path = tmp_path / "conversation_logs.db"
    write_log(path, EXCHANGES[:1])
    result = run_on_log(path, "export", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert f"Exported {said} as {fmt}\n" in result.output


def progress_shown(log, tmp_path, fmt: str) -> str:
    """What `python -m bot export` draws on a terminal's stderr (a pty), with the final count line."""
    out = str(tmp_path / fmt)
    command = [sys.executable, "-m", "bot", "--env-file", os.devnull, "export", "--format", fmt, "-o", out]
    leader, follower = pty.openpty()
    env = clean_env(tmp_path, CONVERSATION_LOG_DB=str(log))
    done = subprocess.run(command, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=follower, timeout=60)
    os.close(follower)
    shown = os.read(leader, 65536).decode(errors="replace")
    os.close(leader)
    assert done.returncode == 0, shown
    return shown


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["chat-jsonl", "kto"])
def test_the_progress_bar_of_a_line_a_conversation_counts_lines(log, tmp_path, fmt):
    """A bar over the 5 exchanges stopped at 40% for 2 conversations; it counts what is written instead."""
    count, noun = EXPECTED[fmt]
    shown = progress_shown(log, tmp_path, fmt)
    assert f"Exporting {noun}" in shown and f"  {count}" in shown and "%" not in shown


@pytest.mark.slow
def test_the_progress_bar_of_exchanges_reaches_100_percent(log, tmp_path):
    shown = progress_shown(log, tmp_path, "jsonl")
    assert "Exporting" in shown and "100%" in shown
