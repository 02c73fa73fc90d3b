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
    assert anonymous_status == 302
