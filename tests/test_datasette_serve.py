"""A real `datasette serve` (the Procfile's arguments) on 127.0.0.1, read while the bot's store writes."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import threading
import time

import aiohttp
import pytest

from bot.store import ConversationLog
from bot.store.sqlite import sqlite3
from tests.support import PROJECT
from tests.support.logs import SMALL_LOG_ROWS
from tests.support.processes import closed_port, start_datasette, stop
from tests.support.web import fingerprint, procfile_web, sample_exchange

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser


def write_for(path, seconds: float, outcomes: list) -> None:
    """The bot's own writer, logging exchanges as fast as a busy server for `seconds`."""
    with ConversationLog(path, checkpoint_seconds=0.5) as store:
        n, deadline = 1000, time.monotonic() + seconds
        while time.monotonic() < deadline:
            outcomes.append(store.submit(sample_exchange(n)).result())
            n += 1


async def test_readers_see_new_rows_live_while_the_bot_writes(small_log_path):
    process, base = await start_datasette(small_log_path)
    outcomes: list[str] = []
    writer = threading.Thread(target=write_for, args=(small_log_path, 4.0, outcomes))
    counts, statuses, bodies = [], [], []
    try:
        writer.start()
        async with aiohttp.ClientSession() as session:

            async def read(path: str) -> None:
                async with session.get(base + path) as response:
                    statuses.append(response.status)
                    bodies.append(await response.text())
                    if path.startswith("/conversation_logs/stats"):
                        counts.append((await response.json())[0]["total_conversations"])

            while writer.is_alive():
                await asyncio.gather(
                    read("/conversation_logs/stats.json?_shape=array"),
                    read("/conversation_logs/conversations.json?_size=50"),
                    read("/conversation_logs/user_history.json?user=alice"),
                    read("/conversation_logs/conversations.json?_search=penguins"),
                )
            writer.join()
            async with session.get(base + "/conversation_logs/conversations.csv?_stream=on&_size=max") as response:
                streamed = list(csv.DictReader(io.StringIO(await response.text())))
    finally:
        err = await stop(process)

    assert set(outcomes) == {"logged"} and len(outcomes) > 100, "the writer never had to spool"
    assert set(statuses) == {200}
    assert not any("locked" in body for body in bodies) and "locked" not in err
    assert counts == sorted(counts) and counts[-1] > counts[0], "new rows appeared without a restart"
    with sqlite3.connect(small_log_path) as conn:
        total = conn.execute("select count(*) from conversations").fetchone()[0]
    assert len(streamed) == total == SMALL_LOG_ROWS + len(outcomes)


async def test_posting_to_a_canned_query_writes_nothing(small_log_path):
    before = fingerprint(small_log_path)
    process, base = await start_datasette(small_log_path)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(base + "/conversation_logs/user_history", data={"user": "alice"}) as response:
                status = response.status
            async with session.get(
                base + "/conversation_logs.json", params={"sql": "delete from conversations"}
            ) as response:
                sql_status = response.status
    finally:
        await stop(process)
    assert status >= 400 and sql_status == 400
    assert fingerprint(small_log_path) == before


async def test_the_procfile_web_process_refuses_to_start_without_a_password(small_log_path):
    inline_env, _ = procfile_web()
    assert inline_env == {"DATASETTE_REQUIRE_LOGIN": "1"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASETTE_")}
    line = next(text for text in (PROJECT / "Procfile").read_text().splitlines() if text.startswith("web:"))
    process = await asyncio.create_subprocess_shell(
        line.removeprefix("web:"),
        cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **env,
            "PORT": str(closed_port()),
            "CONVERSATION_LOG_DB": str(small_log_path),
            "PATH": f"{os.path.dirname(sys.executable)}:{env['PATH']}",
        },
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert "DATASETTE_PASSWORD_HASH is not set" in err.decode() and "Traceback" not in err.decode()
