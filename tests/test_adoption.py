"""Upgrading from the original bot: its log (the spec's table, no server, no message id) is adopted in
place, and each old row learns its server from its channel as the bot learns the channels from the gateway
(bot/store/adoption.py, bot/core/adoption.py, bot/discord_front/adoption.py). Until then a row is in no
server's reach; a DM channel's rows stay DMs; a vanished channel's rows stay unplaced."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace

import pytest
from sqlite_utils import Database

from bot.core.adoption import Adoption
from bot.store import ConversationLog, Exchange
from bot.store.adoption import Place
from tests.support.fake_discord import snowflake
from tests.support.harness import ask_to_forget, running_bot
from tests.support.logs import exchange
from tests.support.plain_sql import assert_summary_matches_plain_sql

# conversation_logger.py's table, as the specification gives it.
ORIGINAL_TABLE = """CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    user_name TEXT,
    channel_id TEXT,
    user_message TEXT,
    bot_response TEXT,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
    tokens_used INTEGER DEFAULT 0,
    model_used TEXT
)"""
WAIT_S = 10.0


def original_log(path, rows: list[tuple[str, str, str, str]]) -> None:
    """A log exactly as the original bot wrote it: (user id, user name, channel id, message) per row."""
    with sqlite3.connect(path) as conn:
        conn.execute(ORIGINAL_TABLE)
        conn.executemany(
            "INSERT INTO conversations (user_id, user_name, channel_id, user_message, bot_response, timestamp, "
            "tokens_used, model_used) VALUES (?, ?, ?, ?, ?, '2024-05-01 12:00:00', 30, 'claude-3-haiku-20240307')",
            [(*row, f"re: {row[3]}") for row in rows],
        )
    conn.close()


def unplaced(path) -> list[str]:
    with Database(path) as db:
        return [r[0] for r in db.execute("select c.user_message from unplaced_rows u join conversations c using (id)")]


async def until(check, timeout: float = WAIT_S) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def fields(message) -> dict[str, str]:
    return {field["name"]: field["value"] for field in message.embeds[0]["fields"]}


def texts(message) -> set[str]:
    """The user messages a !history embed shows."""
    return {f["value"].split("\n")[0].removeprefix("**User:** ") for f in message.embeds[0]["fields"]}


async def test_the_original_bots_log_keeps_its_history_where_it_was_said(settings, discord_server, claude, members):
    alice, bob, admin = members
    one = discord_server.guilds[0]
    two, three = discord_server.add_guild("Second"), discord_server.add_guild("Third")
    second_admin = discord_server.add_member("second-admin", admin=True, guild=two)
    discord_server.join(alice, two)
    thread = discord_server.add_thread(snowflake(), one.channels["general"], "old topic", alice)
    vanished, dm = snowflake(), discord_server.dm_channel_id
    rows = [
        (alice.id, "alice", one.channels["general"], "one-a1"),
        (alice.id, "alice", one.channels["general"], "one-a2"),
        (bob.id, "bob", one.channels["chat"], "one-b1"),
        (alice.id, "alice", thread, "one-thread-a"),
        (alice.id, "alice", two.channels["chat"], "two-a1"),
        (second_admin.id, "second-admin", two.channels["general"], "two-s1"),
        (bob.id, "bob", three.channels["general"], "three-b1"),
        (bob.id, "bob", three.channels["chat"], "three-b2"),
        (alice.id, "alice", dm, "dm-a1"),
        (alice.id, "alice", dm, "dm-a2"),
        (alice.id, "alice", vanished, "gone-a1"),
        (bob.id, "bob", vanished, "gone-b1"),
    ]
    original_log(settings.log_db, rows)
    owner = discord_server.add_member("owner")
    settings = replace(settings, owner_ids=frozenset({int(owner.id)}))

    async with running_bot(settings, discord_server) as (bot, _service):
        await until(lambda: sorted(unplaced(settings.log_db)) == ["gone-a1", "gone-b1"])
        await until(lambda: not bot.get_cog("Adopting")._tasks)  # the sweep has ended

        async def ask(user, text, **where):
            [answer] = await _after(discord_server, discord_server.user_says(user, text, **where))
            return answer

        # Each server's !stats counts its old rows, and only those.
        assert fields(await ask(bob, "!stats"))["Total conversations"] == "4"
        assert fields(await ask(alice, "!stats", guild=two))["Total conversations"] == "2"
        assert fields(await ask(bob, "!stats", guild=three))["Total conversations"] == "2"
        # !history in a server: the asker's rows said there (the thread's too), nothing from elsewhere.
        assert texts(await ask(alice, "!history")) == {"one-a1", "one-a2", "one-thread-a"}
        assert texts(await ask(second_admin, "!history alice", guild=two)) == {"two-a1"}
        # !export in a server: exactly its rows.
        export = await ask(admin, "!export")
        [(_name, data)] = export.files.items()
        exported = {row["user_message"] for row in csv.DictReader(io.StringIO(data.decode()))}
        assert exported == {"one-a1", "one-a2", "one-b1", "one-thread-a"}
        # DM rows stay DMs (guild_id NULL, now placed), and their author's.
        with Database(settings.log_db) as db:
            dm_rows = list(db.query("select guild_id from conversations where channel_id = ?", [dm]))
        assert dm_rows == [{"guild_id": None}] * 2
        # In a DM a user sees their own rows from everywhere: the unplaced one too (PRIVACY.md).
        assert {"dm-a1", "dm-a2", "gone-a1"} <= texts(await ask(alice, "!history", dm=True))
        # The vanished channel's rows: in no server's reach, not forgotten by a server admin's !forget...
        prompt = await ask_to_forget(_harness(discord_server), admin, f"!forget {bob.id}")
        [done] = await _after(discord_server, discord_server.user_reacts(admin, prompt, "✅"))
        assert "deleted 1 exchanges" in done.content  # one-b1, said in this server
        assert sorted(unplaced(settings.log_db)) == ["gone-a1", "gone-b1"]
        # ...and the owners reach every row.
        assert fields(await ask(owner, "!stats", dm=True))["Total conversations"] == str(len(rows) - 1)
        # A user's own !forget reaches their unplaced rows too.
        prompt = await ask_to_forget(_harness(discord_server), alice, "!forget")
        [done] = await _after(discord_server, discord_server.user_reacts(alice, prompt, "✅"))
        assert "deleted 7 exchanges" in done.content
        assert unplaced(settings.log_db) == ["gone-b1"]

    with ConversationLog(settings.log_db) as store:
        assert_summary_matches_plain_sql(store)


async def test_a_thread_discord_shows_later_gets_its_rows_placed_then(settings, discord_server, claude, members):
    """A channel no server listed and Discord would not show at start (404) keeps its rows unplaced, until
    a THREAD_CREATE (or a channel event) names its server."""
    alice = members[0]
    later = snowflake()
    original_log(settings.log_db, [(alice.id, "alice", later, "said in a thread")])
    async with running_bot(settings, discord_server) as (bot, _service):
        await until(lambda: not bot.get_cog("Adopting")._tasks)  # the sweep asked Discord: 404
        assert unplaced(settings.log_db) == ["said in a thread"]
        discord_server.add_thread(later, discord_server.channels["general"], "reopened", alice)
        event = {**discord_server.thread_payloads[later], "newly_created": True}
        await discord_server._dispatch(discord_server.socket_for(discord_server.guilds[0]), "THREAD_CREATE", event)
        await until(lambda: unplaced(settings.log_db) == [])
    with Database(settings.log_db) as db:
        assert [r["guild_id"] for r in db.query("select guild_id from conversations")] == [discord_server.guild_id]


async def _after(discord_server, action):
    """The one message the bot sends after `action`."""
    before = len(discord_server.sent)
    await action
    sent = await discord_server.wait_for_sent(before + 1)
    return sent[before:]


def _harness(discord_server):
    """What ask_to_forget needs of a Harness: the fake Discord and `say`."""

    class Asking:
        discord = discord_server

        async def say(self, user, text, replies=1, **where):
            return await _after(discord_server, discord_server.user_says(user, text, **where))

    return Asking()


# The fill in a process of its own, one row per writer job, so a kill lands between two batches or in one.
FILL_PROCESS = """
import asyncio, sys
from pathlib import Path
from bot.core.adoption import Adoption
from bot.store import ConversationLog
from bot.store.adoption import Place

async def fill() -> None:
    with ConversationLog(Path(sys.argv[1])) as store:
        await Adoption(store, batch_rows=1).place([Place(sys.argv[2], sys.argv[3])])

asyncio.run(fill())
"""
BIG_CHANNEL_ROWS = 5000  # one-row batches take seconds to place: room to kill the fill midway
SUMMARIES = ("stats_guild_models", "user_names", "usage_daily", "usage_user_daily", "stats_user_models")


def restart_log(path) -> list[Place]:
    """An original log over a big server channel, a small one, a DM and a vanished channel; their places."""
    big, small, dm = Place("101", "9001"), Place("102", "9002"), Place("103", None)
    rows = [(f"u{n % 7}", f"user{n % 7}", big.channel_id, f"big {n}") for n in range(BIG_CHANNEL_ROWS)]
    rows += [
        (f"u{n % 3}", f"user{n % 3}", channel, f"{channel} {n}") for n in range(20) for channel in ["102", "103", "104"]
    ]
    original_log(path, rows)
    return [big, small, dm]  # channel 104 is gone: Discord never says where it was


def everything(path) -> dict[str, list]:
    with Database(path) as db:
        tables = ("conversations", "unplaced_rows", *SUMMARIES)
        return {table: sorted(tuple(map(str, row)) for row in db.execute(f"select * from {table}")) for table in tables}


async def adopt(path, places: list[Place]) -> int:
    with ConversationLog(path) as store:
        return await Adoption(store).place(places)


async def test_a_fill_killed_midway_finishes_at_the_next_start_with_the_same_result(tmp_path):
    whole, killed = tmp_path / "whole.db", tmp_path / "killed.db"
    places = restart_log(whole)
    restart_log(killed)
    assert await adopt(whole, places) == BIG_CHANNEL_ROWS + 40  # DM rows count as placed too

    ConversationLog(killed).open().close()  # migrated, as the bot's first start leaves it
    child = subprocess.Popen([sys.executable, "-c", FILL_PROCESS, str(killed), "101", "9001"], cwd=os.getcwd())
    await until(lambda: 0 < len(unplaced(killed)) < BIG_CHANNEL_ROWS + 60 - 10, timeout=60)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    left = len(unplaced(killed))
    assert 60 < left < BIG_CHANNEL_ROWS + 60, left  # killed midway through the big channel

    assert await adopt(killed, places) == left - 20  # the next start places exactly what was left
    assert everything(killed) == everything(whole)
    assert await adopt(killed, places) == 0  # and a third finds nothing to do
    assert everything(killed) == everything(whole)
    assert sorted(unplaced(whole)) == sorted(f"104 {n}" for n in range(20))
    with ConversationLog(killed) as store:
        assert_summary_matches_plain_sql(store)


async def test_a_placing_cancelled_midway_leaves_the_writer_running(tmp_path):
    """The bot's close cancels a placing while it awaits its batch: the batch's job is not cancelled under
    the writer thread (which then died setting its result, and every later row waited forever)."""
    path = tmp_path / "log.db"
    places = restart_log(path)
    with ConversationLog(path) as store:
        task = asyncio.create_task(Adoption(store, batch_rows=1).place(places))
        await until(lambda: len(unplaced(path)) < BIG_CHANNEL_ROWS)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        answer = Exchange("1", "a", "1", "still logged?", "yes", "claude-haiku-4-5", "m-after-cancel")
        assert await asyncio.wait_for(asyncio.wrap_future(store.submit(answer)), WAIT_S) == "logged"


def test_the_search_index_is_rewritten_only_when_the_text_changes(tmp_path):
    """m020b: filling a row's server (or its reply id) leaves the search index's blocks as they were."""
    with ConversationLog(tmp_path / "log.db") as store:
        store.submit(exchange(1)).result()

        def blocks() -> list[dict]:
            return store.query("select id, block from conversations_fts_data order by id")

        before = blocks()
        store.set_reply_id("m1", "r1").result()
        store.run_job(
            lambda db: db.execute("update conversations set guild_id = 'g9' where message_id = 'm1'")
        ).result()
        assert blocks() == before
        store.run_job(lambda db: db.execute("update conversations set user_message = 'zebra' where message_id = 'm1'"))
        store.run_job(lambda db: None).result()
        assert store.query("select rowid from conversations_fts where conversations_fts match 'zebra'") != []
