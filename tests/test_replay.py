"""The faithful record (issue 23): every logged exchange replays, through the `requests` export, the exact
Messages API body the fake Claude received for it, with the two stated exceptions asserted precisely (a
masked user text, and attachment bytes the log does not keep); a change of BOT_SYSTEM_PROMPT starts a new
version and old rows still replay with the old prompt; logs from before say plainly that their request is
unknown."""

from __future__ import annotations

import asyncio
import copy
import gzip
import hashlib
import json
from dataclasses import replace

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from bot.__main__ import cli
from bot.core.export_formats import records
from bot.core.redact import redact
from bot.core.request_export import MISSING_FILE, UNAVAILABLE
from bot.store import ConversationLog, Selection, migrate, migrations
from bot.store.reads import Reads
from bot.store.request_record import NOT_SENT, RECORDED, UNKNOWN
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3
from tests.support.harness import running_bot
from tests.support.images import PNG
from tests.support.logs import exchange, log_rows_at

NOTES = b"line one\nline two: the plan\n"
SECRET_MAIL = "write to alice@example.com please"


@pytest.fixture
def settings(settings):
    return replace(settings, redact=True)


async def recorded(harness, reply) -> None:
    """Wait until the log knows `reply` answered its exchange (recorded just after the reply is sent)."""
    for _ in range(250):
        if reply.id in {row["reply_message_id"] for row in harness.rows()}:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the log never recorded reply {reply.id}")


def exported(path, selection: Selection = Selection()) -> list[dict]:
    """The `requests` export, through the same records() as !export and the CLI."""
    return [json.loads(line) for line, _ in records("requests", Reads(path), selection)]


def expected_body(sent: dict, line: dict, files: dict[str, bytes], original_text: str | None) -> dict:
    """What the fake received, with the stated exceptions applied: each attachment's block becomes the
    missing-file block (named, with the SHA-256 of the bytes sent), and a masked text its masked form."""
    body = copy.deepcopy(sent)
    del body["stream"]  # the export's body is the request minus `stream`
    last = body["messages"][-1]
    if line["files_missing"]:
        blocks = last["content"]
        for n, file in enumerate(line["files_missing"]):
            assert hashlib.sha256(files[file["name"]]).hexdigest() == file["sha256"]
            assert blocks[n]["type"] == "image" or blocks[n]["text"].startswith(f"[file: {file['name']}]\n")
            blocks[n] = {"type": "text", "text": MISSING_FILE.format(**file)}
    if line["redacted"]:
        assert original_text is not None and redact(original_text) != original_text
        text_block = last["content"][-1] if isinstance(last["content"], list) else None
        sent_text = text_block["text"] if text_block else last["content"]
        assert sent_text == original_text  # Claude was sent the unmasked text; the log keeps the masked one
        if text_block:
            text_block["text"] = redact(sent_text)
        else:
            last["content"] = redact(sent_text)
    return body


async def test_every_row_of_a_realistic_mix_replays_the_body_claude_received(harness):
    discord, alice, bob = harness.discord, harness.alice, harness.bob
    files = {"notes.txt": NOTES, "cat.png": PNG}
    await harness.say(alice, "hello, I'm Alice", mention_bot=True)  # a plain turn
    await harness.say(alice, "what did I say my name was?", mention_bot=True)  # memory thread: 1 turn of context
    [bob_reply] = await harness.say(bob, "bob asks about tea", mention_bot=True)
    await recorded(harness, bob_reply)
    await harness.say(alice, "and coffee?", reply_to=bob_reply.id)  # a reply chain into bob's exchange
    notes = discord.attach("notes.txt", NOTES, "text/plain")
    await harness.say(alice, "summarise this file", mention_bot=True, attachments=[notes])
    cat = discord.attach("cat.png", PNG, "image/png", width=4, height=3)
    await harness.say(alice, "", mention_bot=True, attachments=[cat])  # an image with no text
    await harness.say(alice, SECRET_MAIL, mention_bot=True)  # masked in the log (BOT_REDACT)
    await harness.say(bob, "!optout")
    await harness.say(bob, "not to be kept", mention_bot=True)  # answered, never logged
    await harness.say(bob, "!optin")
    await harness.say(bob, "back again", mention_bot=True)

    rows = harness.rows()
    lines = exported(harness.settings.log_db)
    assert [line["id"] for line in lines] == [row["id"] for row in rows] and len(rows) == 8
    assert "not to be kept" not in json.dumps(lines) and len(harness.claude.answered) == 9
    by_text = {"summarise this file", SECRET_MAIL, "back again"}
    for row, line in zip(rows, lines, strict=True):
        assert row["request_state"] == RECORDED and "unavailable" not in line, line
        sent = harness.claude.answered[row["anthropic_message_id"]]
        assert row["request_id"] == harness.claude.stream_request_ids[row["anthropic_message_id"]]
        assert row["model_requested"] == sent["model"] == row["model_used"] and row["max_tokens"] == sent["max_tokens"]
        original = SECRET_MAIL if line["redacted"] else None
        assert line["request"] == expected_body(sent, line, files, original), row["user_message"]
        by_text.discard(row["user_message"])
    assert by_text == {SECRET_MAIL}  # the log keeps only the masked text
    marks = {
        row["id"]: (line["redacted"], [f["name"] for f in line["files_missing"]])
        for row, line in zip(rows, lines, strict=True)
    }
    assert sorted(marks.values()) == sorted(
        [(False, [])] * 5 + [(False, ["notes.txt"]), (False, ["cat.png"])] + [(True, [])]
    )
    contexts = [json.loads(row["context_message_ids"]) for row in rows]
    by_message = {row["message_id"]: row for row in rows}
    assert [len(c) for c in contexts] == [0, 1, 0, 1, 3, 4, 5, 0]  # memory: alice's turns; chain: bob's exchange
    assert by_message[contexts[3][0]]["user_message"] == "bob asks about tea"
    # A member's own export never carries another member's words: the chain into bob's exchange is named.
    own = exported(harness.settings.log_db, Selection(scope=Scope.own(alice.id)))
    assert [line["id"] for line in own] == [row["id"] for row in rows if row["user_id"] == alice.id]
    [coffee] = [line for line in own if "request" not in line]
    assert coffee["unavailable"].endswith(f"outside this export: {by_message[contexts[3][0]]['message_id']}")
    assert "bob asks about tea" not in json.dumps(own)
    # After the chain, alice's memory goes on (the chain's turn included); opting out forgot bob's memory.
    assert [by_message[i]["user_message"] for i in contexts[4]] == [
        "hello, I'm Alice",
        "what did I say my name was?",
        "and coffee?",
    ]


async def test_a_fallback_row_replays_the_request_claude_refused_and_one_without_a_key_says_none_was_sent(
    harness, settings, discord_server, members
):
    harness.claude.failures = [500]
    await harness.say(harness.alice, "are you there?", mention_bot=True)
    [row] = harness.rows()
    assert row["model_used"] == "static_fallback" and row["request_state"] == RECORDED
    assert row["anthropic_message_id"] is None and row["request_id"] is None  # no message came back
    [line] = exported(harness.settings.log_db)
    assert line["request"] == {k: v for k, v in harness.claude.received[-1].items() if k != "stream"}
    await harness.bot.close()
    keyless = replace(settings, anthropic_api_key=None, log_db=settings.log_db.with_name("keyless.db"))
    async with running_bot(keyless, discord_server):
        before = len(discord_server.sent)
        await discord_server.user_says(members[0], "anyone?", mention_bot=True)
        await discord_server.wait_for_sent(before + 1)
    [row] = log_rows_at(keyless.log_db)
    assert row["request_state"] == NOT_SENT and exported(keyless.log_db) == [
        {"id": row["id"], "unavailable": UNAVAILABLE[NOT_SENT]}
    ]


async def test_a_forgotten_context_exchange_is_named_not_guessed(harness):
    [bob_reply] = await harness.say(harness.bob, "bob's question", mention_bot=True)
    await recorded(harness, bob_reply)
    await harness.say(harness.alice, "replying to bob", reply_to=bob_reply.id)
    bob_row, alice_row = harness.rows()
    assert harness.service.store.forget(harness.bob.id).result() == 1
    [line] = exported(harness.settings.log_db)
    assert line == {
        "id": alice_row["id"],
        "unavailable": "context exchanges not in the log (forgotten, or past retention) or outside this export: "
        + bob_row["message_id"],
    }


async def test_a_changed_system_prompt_is_a_new_version_and_old_rows_replay_with_the_old_one(
    settings, discord_server, claude, members
):
    alice = members[0]
    first, second = (
        replace(settings, system_prompt="You are version one."),
        replace(settings, system_prompt="You are two."),
    )
    async with running_bot(first, discord_server):
        for sent, text in enumerate(("one", "two"), 1):
            await discord_server.user_says(alice, text, mention_bot=True)
            await discord_server.wait_for_sent(sent)
    async with running_bot(second, discord_server):  # a restart with another BOT_SYSTEM_PROMPT
        await discord_server.user_says(alice, "three", mention_bot=True)  # the memory thread goes on
        await discord_server.wait_for_sent(3)
    async with running_bot(first, discord_server):  # and back: version one again, not a third version
        await discord_server.user_says(alice, "four", mention_bot=True)
        await discord_server.wait_for_sent(4)

    rows = log_rows_at(settings.log_db)
    lines = exported(settings.log_db)
    out = settings.log_db.with_name("requests.jsonl.gz")  # the CLI writes the same lines
    result = CliRunner().invoke(
        cli,
        ["--env-file", "/dev/null", "export", "--format", "requests", "-o", str(out)],
        env={"CONVERSATION_LOG_DB": str(settings.log_db)},
    )
    assert result.exit_code == 0 and "Exported 4 exchanges as requests" in result.output, result.output
    assert [json.loads(line) for line in gzip.decompress(out.read_bytes()).splitlines()] == lines
    assert [line["request"]["system"] for line in lines] == [
        "You are version one.",
        "You are version one.",
        "You are two.",
        "You are version one.",
    ]
    for row, line in zip(rows, lines, strict=True):
        sent = {k: v for k, v in claude.answered[row["anthropic_message_id"]].items() if k != "stream"}
        assert line["request"] == sent
    assert len(lines[2]["request"]["messages"]) == 5  # two turns of version one's context, then "three"
    with Database(settings.log_db) as db:
        prompts = list(db.query("select id, hash, text, first_used, last_used from system_prompts order by id"))
    assert [p["text"] for p in prompts] == ["You are version one.", "You are two."]
    assert [p["hash"] for p in prompts] == [hashlib.sha256(p["text"].encode()).hexdigest() for p in prompts]
    assert [row["system_prompt_id"] for row in rows] == [prompts[0]["id"]] * 2 + [prompts[1]["id"], prompts[0]["id"]]
    assert prompts[0]["first_used"] <= rows[0]["timestamp"] and prompts[0]["last_used"] == rows[3]["timestamp"]
    assert prompts[1]["last_used"] == rows[2]["timestamp"]


def old_log(path, stop_before: str | None) -> None:
    """A log as an earlier bot left it: the original logger's table (stop_before None), or migrated up to
    m019 with rows written by that code."""
    if stop_before is None:
        with sqlite3.connect(path) as conn:
            conn.execute("""CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,
                user_name TEXT, channel_id TEXT, user_message TEXT, bot_response TEXT,
                timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, tokens_used INTEGER DEFAULT 0, model_used TEXT)""")
            conn.execute("INSERT INTO conversations (user_id, user_name, user_message) VALUES ('1', 'old', 'kept')")
        return
    with Database(path) as db:
        migrations.apply(db, stop_before=stop_before)
        before = set(db["conversations"].columns_dict)
        db["conversations"].insert_all({k: v for k, v in exchange(n).row().items() if k in before} for n in range(3))


@pytest.mark.parametrize("stop_before", [None, "m021_system_prompts"], ids=["original bot", "existing log"])
def test_old_logs_migrate_in_place_and_say_their_requests_are_unknown(tmp_path, stop_before):
    path = tmp_path / "conversation_logs.db"
    old_log(path, stop_before)
    migrate(path)
    with ConversationLog(path) as store:
        store.submit(exchange(9)).result()  # a row built without its request says so too
    rows = log_rows_at(path)
    assert {row["request_state"] for row in rows} == {UNKNOWN}
    new_columns = (
        "system_prompt_id",
        "model_requested",
        "max_tokens",
        "anthropic_message_id",
        "request_id",
        "context_message_ids",
        "request_masked",
    )
    assert all(row[column] is None for row in rows for column in new_columns)  # nothing invented
    assert exported(path) == [{"id": row["id"], "unavailable": UNAVAILABLE[UNKNOWN]} for row in rows]
