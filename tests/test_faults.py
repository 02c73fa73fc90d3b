"""Faults really caused: a dropped gateway, redelivery, kill -9, a full disk, and leaked secrets."""

from __future__ import annotations

import logging
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.store import ConversationLog
from tests.support.harness import running_bot
from tests.support.logs import log_rows
from tests.support.processes import start_bot


async def test_a_dropped_gateway_resumes_and_nothing_is_answered_or_logged_twice(harness):
    await harness.say(harness.alice, "before the drop", mention_bot=True)
    await harness.discord.drop_connection()
    # Sent while the bot is away: Discord replays it after the RESUME.
    await harness.discord.user_says(harness.bob, "during the drop", mention_bot=True)
    await harness.discord.wait_for_sent(2, timeout=15)
    await harness.say(harness.alice, "after the drop", mention_bot=True)

    assert harness.discord.resumes == 1
    assert [m.content for m in harness.discord.sent] == [
        "Echo #1: before the drop",
        "Echo #1: during the drop",
        "Echo #2: after the drop",
    ]
    assert [r["user_message"] for r in harness.rows()] == ["before the drop", "during the drop", "after the drop"]


async def test_a_redelivered_message_is_answered_and_logged_once(harness):
    message_id = await harness.discord.user_says(harness.alice, "only once", mention_bot=True)
    await harness.discord.wait_for_sent(1)
    await harness.discord.redeliver(message_id)
    await harness.say(harness.bob, "next", mention_bot=True)  # a later message, so the redelivery was seen
    assert [m.content for m in harness.discord.sent] == ["Echo #1: only once", "Echo #1: next"]
    assert [r["message_id"] for r in harness.rows()].count(message_id) == 1


@pytest.mark.slow
async def test_kill_9_during_a_burst_loses_and_duplicates_nothing(tmp_path, discord_server, claude, members):
    crowd = [discord_server.add_member(f"burst{i}") for i in range(30)]
    process = await start_bot(tmp_path, discord_server, claude)
    for user in crowd:
        await discord_server.user_says(user, f"burst from {user.name}", mention_bot=True)
    await discord_server.wait_for_sent(10, timeout=20)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    answered = {str(m.reference["message_id"]) for m in discord_server.sent if m.reference}

    with ConversationLog(tmp_path / "log.db"):  # a restart replays whatever was spooled
        pass
    logged = [r["message_id"] for r in Database(tmp_path / "log.db")["conversations"].rows]
    assert len(answered) >= 10
    assert answered <= set(logged), "every exchange the bot replied to is in the log"
    assert len(logged) == len(set(logged)), "no exchange twice"


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if result.returncode:
        pytest.skip(f"cannot mount a tiny tmpfs here (needs root): {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(directory: Path) -> Path:
    """Fill the filesystem to the last byte."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:  # ENOSPC: full
            pass
    return filler


async def test_a_full_disk_spools_and_lands_once_space_returns(tiny_disk, settings, discord_server, members, caplog):
    settings = replace(settings, log_db=tiny_disk / "conversation_logs.db")
    alice = members[0]
    async with running_bot(settings, discord_server) as (_, service):
        await discord_server.user_says(alice, "while there is room", mention_bot=True)
        await discord_server.wait_for_sent(1)
        assert service.store.spool.reserve.exists()
        filler = fill(tiny_disk)
        for n in range(3):
            await discord_server.user_says(alice, f"disk full {n}", mention_bot=True)
            await discord_server.wait_for_sent(2 + n)
        assert [m.content for m in discord_server.sent][-1] == "Echo #4: disk full 2"  # still answering
        assert "database or disk is full" in caplog.text
        assert "released" in caplog.text and "reserve" in caplog.text
        # Every answered exchange is on disk, in the log or the spool (the freed reserve may
        # already have let SQLite write again); none is held only in memory.
        on_disk = [r["user_message"] for r in log_rows(settings) + service.store.spool.read()]
        assert sorted(on_disk) == ["disk full 0", "disk full 1", "disk full 2", "while there is room"]
        assert service.store.backlog.held == []
        filler.unlink()
        await discord_server.user_says(alice, "room again", mention_bot=True)
        await discord_server.wait_for_sent(5)
        assert service.store.spool.reserve.exists()  # kept again for the next time
    assert [r["user_message"] for r in log_rows(settings)] == [
        "while there is room",
        "disk full 0",
        "disk full 1",
        "disk full 2",
        "room again",
    ]


async def test_tokens_and_keys_never_reach_the_log_memory_exports_or_app_log(
    settings, discord_server, members, claude, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    alice, _, admin = members
    async with running_bot(settings, discord_server):
        await discord_server.user_says(alice, "hello", mention_bot=True)
        await discord_server.wait_for_sent(1)
        claude.failures = [401]
        await discord_server.user_says(alice, "again", mention_bot=True)
        await discord_server.user_says(admin, "!export")
        await discord_server.wait_for_sent(3)
    secrets = [settings.discord_token, settings.anthropic_api_key]
    exported = b"".join(data for m in discord_server.sent for data in m.files.values())
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("*.db*"))
    for secret in secrets:
        assert secret not in caplog.text
        assert secret.encode() not in stored and secret.encode() not in exported
    assert exported and "hello" in exported.decode()
