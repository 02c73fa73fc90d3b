"""Real processes: `python -m bot` and `datasette serve` started from the project, on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp
from sqlite_utils import Database

from tests.support import PROJECT
from tests.support.web import serve_args


async def run_bot_cli(*args: str, env: dict[str, str], stdin: bytes = b"", cwd: Path = PROJECT):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        os.devnull,
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    return process.returncode, out.decode(), err.decode()


def clean_env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "ANTHROPIC", "BOT_", "CONVERSATION"))}
    env.update(
        {
            "PYTHONPATH": str(PROJECT),
            "CONVERSATION_LOG_DB": str(tmp_path / "log.db"),
            "BOT_MEMORY_DB": str(tmp_path / "mem.db"),
            **extra,
        }
    )
    return env


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once, and a server may bind it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def faked_env(discord_server, claude, **extra: str) -> dict[str, str]:
    """The settings that point a real bot process at the loopback fakes."""
    return {
        "DISCORD_TOKEN": "fake-token",
        "DISCORD_API_BASE": discord_server.api_base,
        "DISCORD_GATEWAY_URL": discord_server.gateway_url,
        "ANTHROPIC_API_KEY": claude.api_key,
        "ANTHROPIC_BASE_URL": claude.url,
        "BOT_API_MAX_RETRIES": "0",
        **extra,
    }


async def spawn_bot(tmp_path, **settings: str) -> asyncio.subprocess.Process:
    """`python -m bot` in a clean environment with these settings and no .env, its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        "/dev/null",
        cwd=PROJECT,
        env=clean_env(tmp_path, **settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def start_bot(tmp_path, discord_server, claude, **extra):
    process = await spawn_bot(tmp_path, **faked_env(discord_server, claude, **extra))
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


async def start_datasette(db_path, env: dict | None = None):
    port = closed_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "datasette",
        "serve",
        *serve_args(db_path, port),
        cwd=PROJECT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(base + "/-/versions.json") as response:
                    if response.status in (200, 302, 401):  # 401: JSON asked for without a login
                        return process, base
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError((await process.communicate())[1].decode())


async def stop(process) -> str:
    process.terminate()
    _, err = await process.communicate()
    return err.decode()
