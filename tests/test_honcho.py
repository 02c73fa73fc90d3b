"""`honcho start` runs the Procfile: the bot and Datasette on one database file."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys

import aiohttp
import pytest
from datasette_auth_passwords.utils import hash_password

from tests.support import PROJECT
from tests.support.processes import clean_env, closed_port
from tests.support.web_login import first_status, logged_in_status

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser

PASSWORD = "s3cret"


async def test_honcho_runs_the_bot_and_datasette_on_one_file(tmp_path, discord_server, claude, members):
    port = closed_port()
    env = clean_env(
        tmp_path,
        PORT=str(port),
        DISCORD_TOKEN="fake",
        DISCORD_API_BASE=discord_server.api_base,
        DISCORD_GATEWAY_URL=discord_server.gateway_url,
        ANTHROPIC_API_KEY=claude.api_key,
        ANTHROPIC_BASE_URL=claude.url,
        CONVERSATION_LOG_DB=str(tmp_path / "conversation_logs.db"),
        DATASETTE_PASSWORD_HASH=hash_password(PASSWORD, iterations=1000),
        PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
    )
    honcho = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "honcho",
        "start",
        cwd=PROJECT,
        env=env,
        start_new_session=True,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    auth = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}
    try:
        for _ in range(150):
            if discord_server.identify is not None or honcho.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert discord_server.identify is not None, "the worker never connected"
        await asyncio.sleep(0.5)
        await discord_server.user_says(members[0], "hello from discord", mention_bot=True)
        await discord_server.wait_for_sent(1, timeout=20)
        url = f"http://127.0.0.1:{port}/conversation_logs/conversations.json?_shape=array"
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(url, headers=auth) as response:
                        if response.status == 200:
                            rows = await response.json()
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.2)
            async with session.get(url, allow_redirects=False) as anonymous:
                anonymous_status = anonymous.status
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        output, _ = await asyncio.wait_for(honcho.communicate(), 30)
    assert [r["user_message"] for r in rows] == ["hello from discord"], output.decode()
    assert anonymous_status == 401  # JSON without a login: 401, not a redirect to the form (issue 24)


# Issue 22, point 3: `make start` without a reachable Discord. honcho stops every process when one exits,
# so the worker must stay up (one line, then backoff or a wait) for the web to be tried behind its login.

NO_TOKEN_LINE = "DISCORD_TOKEN is not set"
UNREACHABLE_LINE = "cannot reach Discord at"
WORKER_LINE_TIMEOUT_S = 60  # two interpreters starting on a machine shared by ~8 test runs


async def start_honcho(tmp_path, **settings: str) -> tuple[asyncio.subprocess.Process, list[str], int]:
    port = closed_port()
    env = clean_env(
        tmp_path,
        PORT=str(port),
        CONVERSATION_LOG_DB=str(tmp_path / "conversation_logs.db"),
        DATASETTE_PASSWORD_HASH=hash_password(PASSWORD, iterations=1000),
        PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        **settings,
    )
    honcho = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "honcho", "start"],
        cwd=PROJECT,
        env=env,
        start_new_session=True,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []

    async def collect() -> None:
        async for line in honcho.stdout:
            lines.append(line.decode())

    honcho.collector = asyncio.ensure_future(collect())  # type: ignore[attr-defined]
    return honcho, lines, port


async def worker_said(lines: list[str], text: str, times: int = 1) -> None:
    for _ in range(WORKER_LINE_TIMEOUT_S * 10):
        if sum(text in line for line in lines) >= times:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the worker never said {text!r} {times} time(s):\n" + "".join(lines))


async def stop(honcho) -> None:
    if honcho.returncode is None:
        os.killpg(honcho.pid, signal.SIGTERM)
    await asyncio.wait_for(honcho.wait(), 30)
    await honcho.collector


@pytest.mark.parametrize(
    "settings, line, times",
    [
        ({}, NO_TOKEN_LINE, 1),  # retrying cannot help: it waits
        ({"DISCORD_TOKEN": "fake", "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10"}, UNREACHABLE_LINE, 2),
    ],
    ids=["no-token", "unreachable"],
)
async def test_make_start_keeps_the_web_up_when_the_worker_cannot_reach_discord(tmp_path, settings, line, times):
    await web_stays_up(tmp_path, settings, line, times)


async def test_make_start_keeps_the_web_up_when_discord_refuses_the_token(tmp_path, discord_server):
    discord_server.refused_tokens.add("reset-in-the-portal")
    settings = {"DISCORD_TOKEN": "reset-in-the-portal", "DISCORD_API_BASE": discord_server.api_base}
    await web_stays_up(tmp_path, settings, "Discord rejected DISCORD_TOKEN", 1)


async def web_stays_up(tmp_path, settings: dict[str, str], line: str, times: int) -> None:
    honcho, lines, port = await start_honcho(tmp_path, **settings)
    base = f"http://127.0.0.1:{port}"
    try:
        await worker_said(lines, line, times)
        anonymous = await first_status(base, "/conversation_logs/stats.json")
        page = await logged_in_status(base, PASSWORD)
        still_running = honcho.returncode is None
    finally:
        await stop(honcho)
    output = "".join(lines)
    assert (anonymous, page, still_running) == (401, 200, True), output  # JSON: 401 (issue 24)
    worker_lines = [text for text in lines if line in text]
    assert all(text.count("\n") == 1 for text in worker_lines) and "Traceback" not in output, output
