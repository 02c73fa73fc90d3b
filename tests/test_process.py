"""`python -m bot` as a real process against the fake Discord and fake Claude."""

from __future__ import annotations

import asyncio
import signal
import sys

from sqlite_utils import Database

from tests.test_settings import PROJECT, clean_env


async def start_bot(tmp_path, discord_server, claude, **extra):
    env = clean_env(
        tmp_path,
        DISCORD_TOKEN="fake-token",
        DISCORD_API_BASE=discord_server.api_base,
        DISCORD_GATEWAY_URL=discord_server.gateway_url,
        ANTHROPIC_API_KEY=claude.api_key,
        ANTHROPIC_BASE_URL=claude.url,
        BOT_API_MAX_RETRIES="0",
        **extra,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        "/dev/null",
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    for _ in range(200):
        if discord_server.identify is not None and discord_server.sockets:
            await asyncio.sleep(0.3)  # READY and GUILD_CREATE processed
            return process
        await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError((await process.stderr.read()).decode())


def logged(tmp_path) -> list[str]:
    with Database(tmp_path / "log.db") as db:
        return [r["user_message"] for r in db["conversations"].rows_where(order_by="id")]


async def test_sigterm_waits_for_the_exchange_under_way_and_logs_it(tmp_path, discord_server, claude, members):
    alice = members[0]
    process = await start_bot(tmp_path, discord_server, claude, BOT_API_TIMEOUT="2")
    assert discord_server.identify["intents"] & (1 << 15), "Message Content intent requested"
    await discord_server.user_says(alice, "answered", mention_bot=True)
    await discord_server.wait_for_sent(1)
    claude.failures = ["hang"]
    await discord_server.user_says(alice, "in flight at shutdown", mention_bot=True)
    while claude.hits < 2:
        await asyncio.sleep(0.05)

    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 0, err.decode()
    assert "conversation log is flushed" in err.decode()
    assert logged(tmp_path) == ["answered", "in flight at shutdown"]
