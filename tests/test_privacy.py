"""Users control their data; admins control retention. Checked on the real files."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from dataclasses import replace

import pytest
from sqlite_utils import Database

from bot.store import ConversationLog
from bot.store.sqlite import sqlite3
from tests.support.harness import ask_to_forget, chat, running_bot, with_settings
from tests.support.logs import log_rows, log_rows_at, memory_turns
from tests.support.processes import clean_env, run_bot_cli
from tests.support.web import sample_exchange


def searchable(settings, word: str) -> int:
    with Database(settings.log_db) as db:
        return len(list(db["conversations"].search(word)))


async def test_forget_deletes_log_search_index_and_memory_after_confirmation(harness):
    await chat(harness, harness.alice, "my secret pangolin", "more pangolins")
    await chat(harness, harness.bob, "bob keeps his pangolin")
    prompt = await ask_to_forget(harness, harness.alice)
    assert "2 logged exchanges" in prompt.content and "✅" in prompt.content

    before = len(harness.discord.sent)
    await harness.discord.user_reacts(harness.alice, prompt, "✅")
    [done] = (await harness.discord.wait_for_sent(before + 1))[before:]

    assert done.content == "Done: deleted 2 exchanges and 4 memory entries."
    assert [r["user_id"] for r in harness.rows()] == [harness.bob.id]
    # The search index forgot her words too; bob's row is still found.
    assert searchable(harness.settings, "secret") == searchable(harness.settings, "pangolins") == 0
    assert searchable(harness.settings, "pangolin") == 1
    assert memory_turns(harness.settings, harness.alice.id) == 0
    assert memory_turns(harness.settings, harness.bob.id) == 2
    with Database(harness.settings.log_db) as db:  # nor do the summaries keep her id or name
        assert [r["user_id"] for r in db["stats_users"].rows] == [harness.bob.id]
        assert {r["value"] for r in db["facet_counts"].rows_where("facet = 'user_name'")} == {harness.bob.name}


async def test_forget_without_confirmation_deletes_nothing(harness):
    with_settings(harness, confirm_seconds=0.3)
    await chat(harness, harness.alice, "keep me")
    prompt = await ask_to_forget(harness, harness.alice)
    await harness.discord.user_reacts(harness.bob, prompt, "✅")  # someone else's ✅ does not count
    [answer] = (await harness.discord.wait_for_sent(len(harness.discord.sent) + 1))[-1:]
    assert answer.content == "Not confirmed in time: nothing was deleted."
    assert len(harness.rows()) == 1


async def test_admins_forget_anyone_by_id_and_others_cannot(harness):
    await chat(harness, harness.alice, "hello")
    [refusal] = await harness.say(harness.bob, f"!forget {harness.alice.id}")
    assert "only the bot's owners and server admins (Manage Server) can forget someone else" in refusal.content
    prompt = await ask_to_forget(harness, harness.admin, f"!forget {harness.alice.id}")
    assert f"user {harness.alice.id}'s 1 logged exchanges" in prompt.content
    before = len(harness.discord.sent)
    await harness.discord.user_reacts(harness.admin, prompt, "✅")
    await harness.discord.wait_for_sent(before + 1)
    assert harness.rows() == []


async def test_forget_in_a_dm(harness):
    await chat(harness, harness.alice, "in the server")
    prompt = await ask_to_forget(harness, harness.alice, dm=True)
    before = len(harness.discord.sent)
    await harness.discord.user_reacts(harness.alice, prompt, "✅")
    [done] = (await harness.discord.wait_for_sent(before + 1))[before:]
    assert done.content.startswith("Done: deleted 1 exchanges") and harness.rows() == []


def test_forget_also_removes_rows_waiting_in_the_spool(tmp_path):
    path = tmp_path / "log.db"
    with ConversationLog(path) as store:
        store.submit(sample_exchange(0)).result()
        store.spool.append([sample_exchange(3).row(), sample_exchange(1).row()])  # 3 is alice's, like 0
        assert store.forget("101").result() == 2
    assert [r["user_id"] for r in log_rows_at(path)] == ["102"]


async def test_opted_out_users_are_answered_but_never_stored(settings, discord_server, members, claude):
    alice, bob, _ = members
    async with running_bot(settings, discord_server):
        await discord_server.user_says(alice, "remember this", mention_bot=True)
        await discord_server.wait_for_sent(1)
        await discord_server.user_says(alice, "!optout")
        await discord_server.wait_for_sent(2)
        await discord_server.user_says(alice, "do not keep this", mention_bot=True)
        await discord_server.wait_for_sent(3)
        assert discord_server.sent[-1].content == "Echo #1: do not keep this"  # answered, with no context
    async with running_bot(settings, discord_server):  # the choice survives a restart
        await discord_server.user_says(alice, "still private", mention_bot=True)
        await discord_server.wait_for_sent(4)
        await discord_server.user_says(bob, "!stats")
        sent = await discord_server.wait_for_sent(5)
        stats = {f["name"]: f["value"] for f in sent[-1].embeds[0]["fields"]}
        assert stats["Opted out"] == "1 users"
        await discord_server.user_says(alice, "!optin")
        await discord_server.wait_for_sent(6)
        await discord_server.user_says(alice, "log me again", mention_bot=True)
        await discord_server.wait_for_sent(7)
    assert [r["user_message"] for r in log_rows(settings)] == ["remember this", "log me again"]
    assert memory_turns(settings, alice.id) == 2  # only "log me again" and its reply


async def test_retention_deletes_old_conversations_at_startup_and_shows_in_stats(
    settings, discord_server, members, caplog
):
    with ConversationLog(settings.log_db) as store:
        for n, stamp in enumerate(["2020-01-01 00:00:00", "2026-01-01 00:00:00", ""]):
            store.submit(replace(sample_exchange(n, stamp), guild_id=discord_server.guild_id)).result()
    kept = replace(settings, retention_days=30)
    caplog.set_level(logging.INFO)
    async with running_bot(kept, discord_server):
        await discord_server.user_says(members[1], "!stats")
        [message] = await discord_server.wait_for_sent(1)
    stats = {f["name"]: f["value"] for f in message.embeds[0]["fields"]}
    assert stats["Total conversations"] == "1"
    assert stats["Retention"] == "exchanges older than 30 days are deleted"
    assert "retention: deleted 2 conversation(s) older than 30 days" in caplog.text


async def test_no_retention_keeps_everything(settings, discord_server, members):
    with ConversationLog(settings.log_db) as store:
        store.submit(sample_exchange(0, "2001-01-01 00:00:00")).result()
    async with running_bot(settings, discord_server):
        pass
    assert len(log_rows(settings)) == 1


REDACTION_CASES = [
    ("mail me at jane.doe+bots@example.co.uk", "mail me at [email]"),
    ("call +1 (555) 123-4567 tomorrow", "call [phone] tomorrow"),
    ("my key is sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx ok", "my key is [secret] ok"),
    ("on 2026-11-24 ticket 4521 for <@123456789012345678>", "on 2026-11-24 ticket 4521 for <@123456789012345678>"),
]


async def test_redaction_masks_before_storing_both_texts(harness, claude):
    harness.service.redact = __import__("bot.core.redact", fromlist=["redact"]).redact
    for text, _ in REDACTION_CASES:
        await harness.say(harness.alice, text, mention_bot=True)
    rows = harness.rows()
    assert [r["user_message"] for r in rows] == [masked for _, masked in REDACTION_CASES]
    assert [r["bot_response"] for r in rows][:3] == [
        "Echo #1: mail me at [email]",
        "Echo #2: call [phone] tomorrow",
        "Echo #3: my key is [secret] ok",
    ]
    assert claude.requests[0]["messages"][-1]["content"] == REDACTION_CASES[0][0]  # Claude got the original
    with Database(harness.settings.memory_db) as db:
        remembered = " ".join(r["content"] for r in db["turns"].rows)
    assert "jane.doe" not in remembered and "[email]" in remembered


async def test_privacy_command_summarises_and_links(harness):
    with_settings(harness, privacy_url="https://example.org/privacy")
    [message] = await harness.say(harness.bob, "!privacy")
    [embed] = message.embeds
    assert embed["url"] == "https://example.org/privacy"
    text = " ".join(f["value"] for f in embed["fields"])
    assert "!forget" in text and "!optout" in text and "kept until deleted" in text


async def test_rate_limit_warns_once_and_logs_what_was_answered(settings, discord_server, members):
    limited = replace(settings, rate_limit=(2, 60.0))
    alice, bob, _ = members
    async with running_bot(limited, discord_server):
        for n in range(5):
            await discord_server.user_says(alice, f"spam {n}", mention_bot=True)
        await discord_server.user_says(bob, "not spam", mention_bot=True)
        await discord_server.wait_for_sent(4)
        await asyncio.sleep(0.3)
    contents = [m.content for m in discord_server.sent]
    warnings = [c for c in contents if "faster than I can answer" in c]
    assert len(warnings) == 1 and "Try again in" in warnings[0]
    assert sorted(r["user_message"] for r in log_rows(settings)) == ["not spam", "spam 0", "spam 1"]


async def test_export_in_a_dm_is_your_own_unless_you_are_a_configured_admin(harness):
    with_settings(harness, owner_ids=frozenset({int(harness.bob.id)}))
    await chat(harness, harness.alice, "hi")
    await chat(harness, harness.admin, "mine")
    [own] = await harness.say(harness.admin, "!export", dm=True)  # Manage Server means nothing in a DM
    [everything] = await harness.say(harness.bob, "!export", dm=True)
    assert next(iter(everything.files)).startswith("conversation_export_")
    assert [b"hi" in data for data in own.files.values()] == [False]
    assert [b"mine" in data for data in own.files.values()] == [True]
    assert [b"hi" in data and b"mine" in data for data in everything.files.values()] == [True]


def checksum(path) -> tuple[int, str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("select * from conversations order by id").fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def logged_so_far(path) -> int:
    try:
        return checksum(path)[0]
    except sqlite3.OperationalError:  # the file exists a moment before its table does
        return 0


@pytest.mark.slow
async def test_backup_while_the_bot_writes_restores_equal(tmp_path):
    path = tmp_path / "log.db"
    stop = threading.Event()

    def write() -> None:
        with ConversationLog(path) as store:
            n = 0
            while not stop.is_set():
                store.submit(sample_exchange(n)).result()
                n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while logged_so_far(path) < 200:
            time.sleep(0.05)
        code, _out, err = await run_bot_cli(
            "backup", str(tmp_path / "copy.db"), env=clean_env(tmp_path, CONVERSATION_LOG_DB=str(path))
        )
    finally:
        stop.set()
        writer.join()
    assert code == 0, err
    copy_rows, copy_sum = checksum(tmp_path / "copy.db")
    assert copy_rows >= 200
    with sqlite3.connect(path) as conn:  # the copy equals the first rows of the live log, exactly
        prefix = conn.execute("select * from conversations where id <= ? order by id", [copy_rows]).fetchall()
    assert hashlib.sha256(repr(prefix).encode()).hexdigest() == copy_sum
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    again = await run_bot_cli(
        "backup", str(tmp_path / "copy.db"), env=clean_env(tmp_path, CONVERSATION_LOG_DB=str(path))
    )
    assert again[0] != 0 and "already exists" in again[2]
