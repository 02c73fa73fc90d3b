"""The log as a dataset: ratings from reactions, threaded chat exports, and the data CLI."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import pty
import subprocess
import sys

import pytest
from sqlite_utils import Database

from bot.store import ConversationLog
from bot.store.sqlite import sqlite3
from tests.support import PROJECT
from tests.support.processes import clean_env, run_bot_cli
from tests.support.web import write_sample_log


def ratings(settings) -> dict[tuple[str, str], int]:
    with Database(settings.log_db) as db:
        return {(r["reply_message_id"], r["rater_id"]): r["value"] for r in db["ratings"].rows}


async def settle(harness, expected, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if ratings(harness.settings) == expected:
            return
        await asyncio.sleep(0.02)
    assert ratings(harness.settings) == expected


async def test_reactions_rate_replies_latest_counts_and_removal_unrates(harness):
    [reply] = await harness.say(harness.alice, "rate me", mention_bot=True)
    while not harness.rows()[0]["reply_message_id"]:
        await asyncio.sleep(0.01)
    assert harness.rows()[0]["reply_message_id"] == reply.id
    alice, bob = harness.alice.id, harness.bob.id

    await harness.discord.user_reacts(harness.alice, reply, "👍")
    await harness.discord.user_reacts(harness.bob, reply, "👎")
    await settle(harness, {(reply.id, alice): 1, (reply.id, bob): -1})
    await harness.discord.user_reacts(harness.alice, reply, "👎")  # changed her mind: the latest counts
    await settle(harness, {(reply.id, alice): -1, (reply.id, bob): -1})
    await harness.discord.user_reacts(harness.alice, reply, "👍", removed=True)  # taking back an old 👍
    await harness.discord.user_reacts(harness.bob, reply, "👎", removed=True)
    await settle(harness, {(reply.id, alice): -1})

    [stats] = await harness.say(harness.bob, "!stats")  # a bot message that is no reply: not ratable
    await harness.discord.user_reacts(harness.alice, stats, "👍")
    await harness.discord.user_reacts(harness.bob, reply, "👍")
    await settle(harness, {(reply.id, alice): -1, (reply.id, bob): 1})
    [stats] = await harness.say(harness.bob, "!stats")
    shown = {f["name"]: f["value"] for f in stats.embeds[0]["fields"]}
    assert shown["Rated up"] == "0 of 1 rated replies (0%)"  # -1 + 1 is not rated up


@pytest.mark.slow
async def test_chat_jsonl_rebuilds_each_conversation_turn_by_turn(harness, tmp_path):
    alice_turns = ["hi, I'm Alice", "what's my name?", "thanks!"]
    for text in alice_turns:
        await harness.say(harness.alice, text, mention_bot=True)
    await harness.say(harness.bob, "bob here", mention_bot=True)
    harness.claude.failures = [500]
    await harness.say(harness.bob, "this one falls back", mention_bot=True)

    code, out, err = await run_bot_cli(
        "export",
        "--format",
        "chat-jsonl",
        "--system-prompt",
        env=clean_env(tmp_path, CONVERSATION_LOG_DB=str(harness.settings.log_db)),
    )
    assert code == 0, err
    conversations = [json.loads(line) for line in out.splitlines()]
    by_first = {c["messages"][1]["content"]: c for c in conversations}
    alice = by_first["hi, I'm Alice"]["messages"]
    assert alice[0] == {"role": "system", "content": harness.settings.system_prompt}
    assert alice[1:] == [
        message
        for n, text in enumerate(alice_turns, 1)
        for message in ({"role": "user", "content": text}, {"role": "assistant", "content": f"Echo #{n}: {text}"})
    ]
    assert [m["content"] for m in by_first["bob here"]["messages"][1:]] == ["bob here", "Echo #1: bob here"]
    assert len(conversations) == 2  # the fallback turn is left out by default
    assert "Exported 2 conversations as chat-jsonl" in err


@pytest.fixture
def sample_db(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=60)
    return path


def sql_count(path, where: str, params=()) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"select count(*) from conversations c where {where}", params).fetchone()[0]


SCORE = "coalesce((select sum(value) from ratings r where r.reply_message_id = c.reply_message_id), 0)"
FILTERS = [
    ([], "1"),
    (["--since", "2026-05-01"], "timestamp >= '2026-05-01 00:00:00'"),
    (["--until", "2026-05-01"], "timestamp < '2026-05-01 00:00:00'"),
    (
        ["--since", "2026-03-01", "--until", "2026-07-01 12:00:00"],
        "timestamp >= '2026-03-01 00:00:00' and timestamp < '2026-07-01 12:00:00'",
    ),
    (["--user", "ALICE"], "user_name = 'alice'"),
    (["--user", "102"], "user_id = '102'"),
    (["--channel", "c1"], "channel_id = 'c1'"),
    (["--model", "claude-sonnet-4-5"], "model_used = 'claude-sonnet-4-5'"),
    (["--exclude-fallback"], "model_used != 'static_fallback'"),
    (["--min-rating", "1"], f"{SCORE} >= 1"),
    (["--min-rating", "0"], f"{SCORE} >= 0"),
    (["--limit", "7"], "id <= 7"),
]


@pytest.mark.slow
@pytest.mark.parametrize("options, where", FILTERS, ids=[" ".join(o) or "none" for o, _ in FILTERS])
async def test_each_filter_matches_sql(sample_db, tmp_path, options, where):
    code, out, err = await run_bot_cli(
        "export", "--format", "jsonl", *options, env=clean_env(tmp_path, CONVERSATION_LOG_DB=str(sample_db))
    )
    assert code == 0, err
    exported = [json.loads(line) for line in out.splitlines()]
    expected = sql_count(sample_db, where)
    assert len(exported) == expected > 0
    assert expected < 60 or options in ([], ["--min-rating", "0"]), "the filter left out nothing"


@pytest.mark.slow
async def test_gzip_output_and_csv_matches_the_spec_columns(sample_db, tmp_path):
    target = tmp_path / "out.csv.gz"
    code, _, err = await run_bot_cli(
        "export", "-o", str(target), "--include-fallback", env=clean_env(tmp_path, CONVERSATION_LOG_DB=str(sample_db))
    )
    assert code == 0, err
    lines = gzip.decompress(target.read_bytes()).decode().splitlines()
    assert lines[0].startswith(
        "id,user_id,user_name,channel_id,user_message,bot_response,timestamp,tokens_used,model_used"
    )
    assert f"Exported 60 exchanges as csv to {target}" in err


@pytest.mark.slow
def test_progress_bar_on_a_terminal_and_none_when_piped(sample_db, tmp_path):
    env = clean_env(tmp_path, CONVERSATION_LOG_DB=str(sample_db))
    command = [
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        os.devnull,
        "export",
        "-o",
        str(tmp_path / "x.jsonl"),
        "--format",
        "jsonl",
    ]
    piped = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and "Exporting" not in piped.stderr
    leader, follower = pty.openpty()
    on_terminal = subprocess.run(command, cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=follower, timeout=60)
    os.close(follower)
    shown = os.read(leader, 65536).decode(errors="replace")
    os.close(leader)
    assert on_terminal.returncode == 0 and "Exporting" in shown and "100%" in shown


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["export", "--since", "2026-13-45"], "Invalid value for '--since'"),
        (["export", "--model", "gpt-2"], "no exchange used 'gpt-2'"),
        (["export", "--format", "xml"], "Invalid value for '--format'"),
        (["stats"], "does not exist"),
    ],
)
async def test_bad_input_is_one_line_and_a_failure(tmp_path, args, message):
    db = tmp_path / "conversation_logs.db"
    if args[0] == "export":
        write_sample_log(db, count=3)
    code, out, err = await run_bot_cli(*args, env=clean_env(tmp_path, CONVERSATION_LOG_DB=str(db)))
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("Error: ") and message in err


@pytest.mark.slow
async def test_stats_and_history_cli_print_what_the_commands_show(sample_db, tmp_path):
    env = clean_env(tmp_path, CONVERSATION_LOG_DB=str(sample_db))
    _, stats, _ = await run_bot_cli("stats", env=env)
    figures = ConversationLog(sample_db).stats()
    assert f"Total conversations: {figures['total_conversations']}" in stats
    assert f"Rated up: {figures['replies_rated_up']} of {figures['rated_replies']} rated replies" in stats
    _, history, _ = await run_bot_cli("history", "bob", "--limit", "3", env=env)
    expected = [row["user_message"] for row in ConversationLog(sample_db).user_history("bob", 3)]
    assert [line.removeprefix("User: ") for line in history.splitlines() if line.startswith("User: ")] == expected


async def test_discord_export_takes_a_format_through_the_same_code(harness):
    for text in ("one", "two"):
        await harness.say(harness.alice, text, mention_bot=True)
    [jsonl] = await harness.say(harness.admin, "!export jsonl")
    [chat] = await harness.say(harness.admin, "!export chat")
    [bad] = await harness.say(harness.admin, "!export xml")
    [(jsonl_name, jsonl_data)] = jsonl.files.items()
    [(chat_name, chat_data)] = chat.files.items()
    assert jsonl_name.endswith(".jsonl") and chat_name.endswith("_chat.jsonl")
    assert [json.loads(record)["user_message"] for record in jsonl_data.decode().splitlines()] == ["one", "two"]
    [conversation] = [json.loads(record) for record in chat_data.decode().splitlines()]
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant", "user", "assistant"]
    assert bad.content == ("Unknown format: use `csv`, `jsonl`, `chat`, `openai`, `bedrock`, `kto` or `requests`.")
