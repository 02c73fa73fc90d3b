"""Fine-tuning exports (openai, bedrock, kto): each loads with Hugging Face `datasets`, and each line keeps
its format's rules, on a log with a bare mention, fallbacks, ratings up, down and tied, and two servers."""

from __future__ import annotations

import json

import pytest
from sqlite_utils import Database

from bot.exports.files import EXCLUDES_FALLBACK_BY_DEFAULT, export_file, records
from bot.store import ConversationLog, Selection, migrate
from bot.store.request_record import register_prompt
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3
from tests.support.cli import run_on_log

SYSTEM = "You are a test bot."
LATER = "You are a test bot, version two."  # BOT_SYSTEM_PROMPT changed before server g2's conversation
# (conversation, guild, user message, reply, model, ratings)
EXCHANGES = [
    ("c-a", "g1", "", "Hi! You only mentioned me.", "claude-haiku-4-5", []),  # a bare mention
    ("c-a", "g1", "what is sqlite?", "A database in a file.", "claude-haiku-4-5", [1]),
    ("c-a", "g1", "is it fast?", "No, never.", "claude-haiku-4-5", [-1, -1, 1]),  # net down
    ("c-a", "g1", "thanks", "You're welcome.", "claude-haiku-4-5", []),
    ("c-b", "g1", "hello", "Hello there.", "claude-sonnet-4-5", [1, -1]),  # a tie
    ("c-b", "g1", "are you there?", "Sorry, I can't answer right now.", "static_fallback", [-1]),
    ("c-b", "g1", "tell me a joke", "Why did the row cross the table?", "claude-sonnet-4-5", [-1]),
    ("c-b", "g1", "again?", "Sorry, I can't answer right now.", "static_fallback", []),
    ("c-c", "g1", "anyone?", "Sorry, I can't answer right now.", "static_fallback", []),  # nothing usable
    ("c-d", "g2", "other server", "Other reply.", "claude-haiku-4-5", [1]),
]


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "conversation_logs.db"
    migrate(path)
    with sqlite3.connect(path) as conn:
        versions = {text: prompt_version(conn, text) for text in (SYSTEM, LATER)}
        for n, (conversation, guild, message, reply, model, ratings) in enumerate(EXCHANGES):
            conn.execute(
                "insert into conversations (user_id, user_name, guild_id, user_message, bot_response, "
                "model_used, message_id, reply_message_id, conversation_id, timestamp, system_prompt_id, "
                "request_state) values ('u1', 'alice', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'recorded')",
                (
                    *(guild, message, reply, model, f"m{n}", f"r{n}", conversation, f"2026-01-01 10:00:{n:02d}"),
                    versions[LATER if guild == "g2" else SYSTEM],
                ),
            )
            conn.executemany(
                "insert into ratings (reply_message_id, rater_id, value, rated_at) "
                "values (?, ?, ?, '2026-01-02 00:00:00')",
                [(f"r{n}", f"rater{k}", value) for k, value in enumerate(ratings)],
            )
    return path


def prompt_version(conn: sqlite3.Connection, text: str) -> int:
    """A system prompt version, as the bot registers it (bot/store/request_record.py)."""
    return register_prompt(Database(conn), text, "2026-01-01 10:00:00")


def system_of(first_user_message: str) -> str:
    """The system prompt a line must carry: its own conversation's, from the log."""
    return LATER if first_user_message == "other server" else SYSTEM


def export_lines(path, fmt: str, tmp_path, scope: Scope = Scope.everything()) -> list[dict]:
    """Through the same code as !export (service.command_data.export): records() then export_file()."""
    selection = Selection(exclude_fallback=fmt in EXCLUDES_FALLBACK_BY_DEFAULT, scope=scope)
    out = tmp_path / f"out-{fmt}-{scope.guild_id}"
    out.mkdir()
    result = export_file(fmt, records(fmt, ConversationLog(path), selection, system_prompt=True), out)
    [file] = result.files
    assert file.name.endswith(f"_{fmt}.jsonl")
    lines = [json.loads(line) for line in file.read_text().splitlines()]
    assert result.rows == len(lines)
    return lines


def net_ratings(path) -> dict[str, int]:
    """reply text -> net rating, straight from the ratings table."""
    with sqlite3.connect(path) as conn:
        return dict(
            conn.execute(
                "select c.bot_response, sum(r.value) from ratings r join conversations c "
                "on c.reply_message_id = r.reply_message_id where c.model_used != 'static_fallback' "
                "and c.user_message != '' group by r.reply_message_id"
            )
        )


@pytest.mark.parametrize("fmt, lines", [("openai", 3), ("bedrock", 3), ("kto", 4)])
def test_each_format_loads_with_hugging_face_datasets(log, tmp_path, fmt, lines):
    datasets = pytest.importorskip("datasets")
    written = export_lines(log, fmt, tmp_path)
    [file] = (tmp_path / f"out-{fmt}-None").iterdir()
    loaded = datasets.load_dataset("json", data_files=str(file), split="train", cache_dir=str(tmp_path / "hf"))
    assert len(loaded) == len(written) == lines
    assert (
        set(loaded.column_names)
        == {"openai": {"messages"}, "bedrock": {"system", "messages"}, "kto": {"prompt", "completion", "label"}}[fmt]
    )


def test_bedrock_lines_keep_every_rule(log, tmp_path):
    lines = export_lines(log, "bedrock", tmp_path)
    for line in lines:
        assert set(line) == {"system", "messages"} and line["system"] == system_of(line["messages"][0]["content"])
        roles = [message["role"] for message in line["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and roles
        assert all(set(m) == {"role", "content"} and m["content"].strip() for m in line["messages"])
    texts = [message["content"] for line in lines for message in line["messages"]]
    assert "Hi! You only mentioned me." not in texts  # the bare mention's exchange is dropped
    assert "Sorry, I can't answer right now." not in texts  # and every fallback
    by_first = {line["messages"][0]["content"]: line for line in lines}
    assert [m["content"] for m in by_first["hello"]["messages"]] == [
        "hello",
        "Hello there.",
        "tell me a joke",
        "Why did the row cross the table?",
    ]


def test_openai_weights_follow_the_ratings(log, tmp_path):
    ratings = net_ratings(log)
    lines = export_lines(log, "openai", tmp_path)
    assistants = [m for line in lines for m in line["messages"] if m["role"] == "assistant"]
    assert (
        {m["content"] for m in assistants if m.get("weight") == 0}
        == {reply for reply, net in ratings.items() if net < 0}
        == {"No, never.", "Why did the row cross the table?"}
    )
    assert all(set(m) <= {"role", "content", "weight"} and m.get("weight", 0) == 0 for m in assistants)
    assert all(
        line["messages"][0] == {"role": "system", "content": system_of(line["messages"][1]["content"])}
        for line in lines
    )
    assert {line["messages"][0]["content"] for line in lines} == {SYSTEM, LATER}


def test_kto_labels_match_the_ratings_table(log, tmp_path):
    lines = export_lines(log, "kto", tmp_path)
    expected = {reply: net > 0 for reply, net in net_ratings(log).items() if net != 0}
    assert {line["completion"][0]["content"]: line["label"] for line in lines} == expected
    assert len(lines) == len(expected) == 4  # the tie says nothing
    joke = next(line for line in lines if line["completion"][0]["content"].startswith("Why did"))
    assert joke["prompt"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hello there."},
        {"role": "user", "content": "tell me a joke"},
    ]
    assert all(line["completion"][0]["role"] == "assistant" and line["prompt"][-1]["role"] == "user" for line in lines)


@pytest.mark.parametrize("fmt", ["openai", "bedrock", "kto"])
def test_the_exports_keep_the_tenancy_scope(log, tmp_path, fmt):
    lines = export_lines(log, fmt, tmp_path, Scope.server("g1"))
    assert "Other reply." not in json.dumps(lines)
    assert "Other reply." in json.dumps(export_lines(log, fmt, tmp_path, Scope.server("g2")))


def test_the_cli_exports_each_format(log, tmp_path):
    for fmt, kind in (("openai", "3 conversations"), ("bedrock", "3 conversations"), ("kto", "4 rated replies")):
        out = tmp_path / f"cli.{fmt}.jsonl"
        result = run_on_log(log, "export", "--format", fmt, "-o", str(out))
        assert result.exit_code == 0, result.output
        assert f"Exported {kind} as {fmt}" in result.output
        assert all(json.loads(line) for line in out.read_text().splitlines())


async def test_discord_export_takes_the_fine_tuning_formats(harness):
    for text in ("one", "two"):
        await harness.say(harness.alice, text, mention_bot=True)
    for fmt, keys in (("openai", {"messages"}), ("bedrock", {"messages"})):
        [reply] = await harness.say(harness.admin, f"!export {fmt}")
        [(name, data)] = reply.files.items()
        assert name.endswith(f"_{fmt}.jsonl")
        [line] = [json.loads(text) for text in data.decode().splitlines()]
        assert set(line) == keys
        assert [m["content"] for m in line["messages"]] == ["one", "Echo #1: one", "two", "Echo #2: two"]
    [kto] = await harness.say(harness.admin, "!export kto")  # nothing rated yet: an empty file
    [(name, data)] = kto.files.items()
    assert name.endswith("_kto.jsonl") and data == b""


def test_chat_and_kto_lines_carry_their_own_conversations_system_prompt(log, tmp_path):
    pieces = records("chat-jsonl", ConversationLog(log), Selection(exclude_fallback=True), system_prompt=True)
    chat = [json.loads(line) for line, _ in pieces]
    assert all(line["messages"][0]["content"] == system_of(line["messages"][1]["content"]) for line in chat)
    assert {line["messages"][0]["content"] for line in chat} == {SYSTEM, LATER}
    kto = export_lines(log, "kto", tmp_path)
    [other] = [line for line in kto if line["prompt"][1]["content"] == "other server"]
    assert other["prompt"][0] == {"role": "system", "content": LATER}


def test_a_conversation_that_spans_a_prompt_change_is_one_line_per_version(log, tmp_path):
    with sqlite3.connect(log) as conn:  # c-a's last turn was answered after BOT_SYSTEM_PROMPT changed
        conn.execute(
            "update conversations set system_prompt_id = (select id from system_prompts where text = ?) "
            "where user_message = 'thanks'",
            [LATER],
        )
    lines = [line for line in export_lines(log, "openai", tmp_path) if line["messages"][1]["content"] != "hello"]
    assert [[m["content"] for m in line["messages"] if m["role"] != "assistant"] for line in lines] == [
        [SYSTEM, "what is sqlite?", "is it fast?"],
        [LATER, "thanks"],
        [LATER, "other server"],
    ]


def test_rows_whose_prompt_the_log_does_not_know_get_none_not_todays(log, tmp_path):
    with sqlite3.connect(log) as conn:  # as rows logged before m021 are
        conn.execute("update conversations set system_prompt_id = null, request_state = 'unknown'")
    lines = export_lines(log, "openai", tmp_path)
    assert lines and all(line["messages"][0]["role"] == "user" for line in lines)
