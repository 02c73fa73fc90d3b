"""`python -m bot` as real processes: two shard processes on one log file, and the 4014 fallback."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.support.fake_gateway import MESSAGE_CONTENT_INTENT
from tests.support.harness import servers_on_both_shards
from tests.support.processes import faked_env, logged, spawn_bot

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser

BURST = 30


async def start(tmp_path, discord_server, claude, **extra) -> asyncio.subprocess.Process:
    return await spawn_bot(tmp_path, **faked_env(discord_server, claude, **extra))


async def until(condition, processes, what: str) -> None:
    for _ in range(400):
        if condition():
            await asyncio.sleep(0.3)  # READY and GUILD_CREATE processed
            return
        await asyncio.sleep(0.05)
    for process in processes:
        process.kill()
    errors = [(await p.stderr.read()).decode() for p in processes]
    raise AssertionError(f"{what}: {errors}")


async def stop(process: asyncio.subprocess.Process) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return err.decode()


async def test_two_shard_processes_log_every_message_once_in_one_file(tmp_path, discord_server, claude, members):
    alice, bob, _ = members
    on_0, on_1 = servers_on_both_shards(discord_server)
    for guild in (on_0, on_1):
        discord_server.join(alice, guild)
        discord_server.join(bob, guild)
    processes = [
        await start(
            tmp_path,
            discord_server,
            claude,
            BOT_SHARDS="2",
            BOT_SHARD_IDS=str(shard),
            BOT_MEMORY_DB=str(tmp_path / f"memory_{shard}.db"),
        )
        for shard in (0, 1)
    ]

    def both_connected():
        live = {shard for ws, shard in discord_server.shard_of_socket.items() if not ws.closed}
        return live == {(0, 2), (1, 2)}

    await until(both_connected, processes, "both shards connected")
    for number in range(BURST):  # both processes write at once
        await discord_server.user_says(
            (alice, bob)[number % 2], f"burst {number}", mention_bot=True, guild=(on_0, on_1)[number % 3 % 2]
        )
    await discord_server.wait_for_sent(BURST, timeout=60)
    for process in processes:
        await stop(process)
    assert sorted(logged(tmp_path)) == sorted(f"burst {n}" for n in range(BURST))


async def test_a_refused_intent_in_a_real_process_is_one_log_line(tmp_path, discord_server, claude, members):
    discord_server.refused_intents = MESSAGE_CONTENT_INTENT
    process = await start(tmp_path, discord_server, claude)
    await until(
        lambda: len(discord_server.identifies) == 2 and discord_server.identify is not None,
        [process],
        "connected again without the intent",
    )
    await discord_server.user_says(members[0], "still answered", mention_bot=True)
    [reply] = await discord_server.wait_for_sent(1)
    assert reply.content == "Echo #1: still answered"
    err = await stop(process)
    assert err.count("Discord refused the Message Content intent (close code 4014)") == 1
    assert "Traceback" not in err and logged(tmp_path) == ["still answered"]
