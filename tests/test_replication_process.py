"""Replication with real processes: a lost disk during a burst, and `python -m bot all` on an empty disk."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bench.data import build
from bot.core.memory import Memory
from bot.replica import litestream as replication
from bot.replica.litestream import MONITOR_INTERVAL_MS
from tests.support import PROJECT
from tests.support.fake_ratelimit import ChannelLimits
from tests.support.processes import clean_env, closed_port, start_bot
from tests.support.replica_fixtures import message_ids, replicated_settings

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser

SYNC_SECONDS = 1.0
BURST = 40
LOSS_AFTER = 25  # replies seen before the disk goes


def children_of(pid: int) -> list[int]:
    """Every thread's children: Go (Litestream) starts its -exec child from any of its threads."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def descendants(pid: int) -> list[int]:
    found = []
    for child in children_of(pid):
        found += [child, *descendants(child)]
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


async def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        await asyncio.sleep(0.05)
    return result


async def test_a_lost_disk_during_a_burst_is_restored_with_every_exchange_older_than_the_sync_interval(
    tmp_path, discord_server, claude, members
):
    data, replica = tmp_path / "data", tmp_path / "replica"
    env = {
        "LITESTREAM_REPLICA_URL": f"file://{replica}",
        "LITESTREAM_SYNC_INTERVAL": f"{SYNC_SECONDS:g}",
        "CONVERSATION_LOG_DB": str(data / "conversation_logs.db"),
        "BOT_MEMORY_DB": str(data / "bot_memory.db"),
    }
    alice = members[0]
    crowd = [discord_server.add_member(f"burst{i}") for i in range(BURST)]
    # The replica is under test, not Discord's limit: at 5 sends/edits per 5 s in one channel the
    # burst's replies would trickle out (tests/test_streaming.py covers the limit).
    discord_server.limits = ChannelLimits(limit=10_000)
    process = await start_bot(tmp_path, discord_server, claude, **env)
    await discord_server.user_says(alice, "remember me", mention_bot=True)
    await discord_server.wait_for_sent(1)
    await asyncio.sleep(SYNC_SECONDS + 0.5)  # alice's exchange and memory are on the replica

    replied: dict[str, float] = {}  # message id -> when its reply reached Discord

    async def watch() -> None:
        while True:
            for message in discord_server.sent:
                if message.reference:
                    replied.setdefault(str(message.reference["message_id"]), time.monotonic())
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    for user in crowd:  # paced, so the replies spread over a few sync intervals
        await discord_server.user_says(user, f"burst from {user.name}", mention_bot=True)
        await asyncio.sleep(0.1)
        if len(replied) >= LOSS_AFTER + 1:
            break
    # The disk goes: the files vanish and the machine with them (the bot and its Litestream).
    lost_at = time.monotonic()
    for pid in [*descendants(process.pid), process.pid]:
        os.kill(pid, signal.SIGKILL)
    subprocess.run(["rm", "-rf", str(data)], check=True)
    await process.wait()
    watcher.cancel()
    before_loss = {mid: lost_at - at for mid, at in replied.items() if at <= lost_at}

    discord_server.identify = None
    process = await start_bot(tmp_path, discord_server, claude, **env)
    sent = len(discord_server.sent)
    await discord_server.user_says(alice, "back again", mention_bot=True)
    await discord_server.wait_for_sent(sent + 1)
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert "restored" in err.decode() and "conversation_logs.db" in err.decode()

    logged = message_ids(data / "conversation_logs.db")
    assert len(logged) == len(set(logged)), "no exchange twice"
    window = SYNC_SECONDS + MONITOR_INTERVAL_MS / 1000
    missing = {mid: age for mid, age in before_loss.items() if mid not in logged}
    print(
        f"\nRPO: {len(missing)} of {len(before_loss)} replied exchanges lost, the oldest "
        f"{max(missing.values(), default=0):.2f} s before the loss (window {window:g} s)"
    )
    assert all(age <= window for age in missing.values()), missing
    assert len(before_loss) > LOSS_AFTER and len(logged) >= len(before_loss) - 20
    # The memory came back too: alice's second turn sees her first.
    assert discord_server.sent[-1].content == "Echo #2: back again"


async def test_all_runs_the_bot_and_datasette_on_an_empty_disk_from_the_replica_and_stops_cleanly(
    tmp_path, discord_server, claude, members
):
    rows = 300
    (tmp_path / "seed").mkdir()
    seed = replicated_settings(tmp_path / "seed", f"file://{tmp_path}/replica")
    build(seed.log_db, rows)
    Memory(seed.memory_db).open().close()
    subprocess.run(
        [replication.litestream_binary(), "replicate", "-once", "-config", str(replication.write_config(seed))],
        check=True,
        capture_output=True,
    )

    port = closed_port()
    data = tmp_path / "empty-disk"
    env = clean_env(
        tmp_path,
        LITESTREAM_REPLICA_URL=f"file://{tmp_path}/replica",
        PORT=str(port),
        CONVERSATION_LOG_DB=str(data / "conversation_logs.db"),
        BOT_MEMORY_DB=str(data / "bot_memory.db"),
        DISCORD_TOKEN="fake",
        DISCORD_API_BASE=discord_server.api_base,
        DISCORD_GATEWAY_URL=discord_server.gateway_url,
        ANTHROPIC_API_KEY=claude.api_key,
        ANTHROPIC_BASE_URL=claude.url,
        DATASETTE_PUBLIC="1",
        PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
    )
    top = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        os.devnull,
        "all",
        cwd=PROJECT,
        env=env,
        start_new_session=True,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/conversation_logs.json?sql=select+count(*)+as+n+from+conversations&_shape=array"
    try:
        await wait_for(lambda: discord_server.identify, 30, "the bot connected")
        assert "litestream" in cmdline(top.pid)  # Litestream took the command's place (-exec)
        async with aiohttp.ClientSession() as session:
            assert await count(session, url, 30) == rows
            await discord_server.user_says(members[0], "first", mention_bot=True)
            await discord_server.wait_for_sent(1, timeout=20)

            worker = await wait_for(
                lambda: [p for p in descendants(top.pid) if "--no-replicate" in cmdline(p)], 10, "the worker"
            )
            web = [p for p in descendants(top.pid) if "datasette serve" in cmdline(p)]
            discord_server.identify = None
            os.kill(worker[0], signal.SIGKILL)  # the bot crashes: it alone comes back
            await wait_for(lambda: discord_server.identify, 30, "the worker restarted")
            assert [p for p in descendants(top.pid) if "datasette serve" in cmdline(p)] == web
            await asyncio.sleep(0.5)
            await discord_server.user_says(members[0], "second", mention_bot=True)
            await discord_server.wait_for_sent(2, timeout=20)
            assert await count(session, url, 10) == rows + 2
    finally:
        everyone = descendants(top.pid)
        top.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(top.communicate(), 60)
    assert top.returncode == 0, output.decode()[-3000:]
    assert not [pid for pid in everyone if Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)]
    text = output.decode()
    assert "restored" in text and "exited with code -9; restarting it" in text
    # Litestream's last sync came after the bot flushed: the replica has both exchanges.
    assert replication.restore(seed, "conversation_logs.db", tmp_path / "after.db")
    assert len(message_ids(tmp_path / "after.db")) == rows + 2, text[-4000:]  # Litestream's own lines say why


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


async def count(session: aiohttp.ClientSession, url: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return (await response.json())[0]["n"]
        except aiohttp.ClientConnectionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("Datasette did not answer")
        await asyncio.sleep(0.2)
