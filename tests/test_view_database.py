"""view_database.py: the spec's terminal viewer, on a real log file."""

from __future__ import annotations

from click.testing import CliRunner

import view_database
from bot.store import ConversationLog, Exchange


def test_shows_stats_and_recent_conversations(tmp_path):
    path = tmp_path / "log.db"
    with ConversationLog(path) as store:
        for n in range(3):
            store.submit(
                Exchange(
                    user_id="1",
                    user_name="alice",
                    channel_id="c",
                    user_message=f"question {n}",
                    bot_response=f"answer {n}",
                    model_used="claude-haiku-4-5",
                    message_id=str(n),
                    input_tokens=5,
                    output_tokens=5,
                )
            ).result()
    result = CliRunner().invoke(view_database.main, ["--db", str(path), "-n", "2"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Conversation log statistics" in result.output
    assert "Total conversations │ 3" in result.output  # the spec's !stats label: every row, each an exchange
    assert "Last 2 exchanges" in result.output  # each row is one exchange (ARCHITECTURE.md's glossary)
    assert "question 2" in result.output and "question 1" in result.output
    assert "question 0" not in result.output
    only_alice = CliRunner().invoke(view_database.main, ["--db", str(path), "--user", "ALICE"], terminal_width=200)
    assert "Last 3 exchanges of ALICE" in only_alice.output


def test_the_help_names_the_rows_exchanges():
    shown = CliRunner().invoke(view_database.main, ["--help"], terminal_width=200).output
    assert "most recent exchanges" in shown and "How many exchanges to show" in shown
    assert "conversations" not in shown


def test_missing_database_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(view_database.main, ["--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "does not exist yet" in result.output
