"""`python -m bot` as a real process against the fake Discord and fake Claude."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest
from datasette_auth_passwords.utils import hash_password

from tests.support import PROJECT
from tests.support.processes import clean_env, closed_port, logged, start_bot
from tests.support.web_login import first_status, logged_in_status

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser

PASSWORD = "s3cret"


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


async def test_all_gives_datasette_the_password_hash_found_only_in_env_file(tmp_path):
    """Issue 22, point 4: the web child restart-looped "DATASETTE_PASSWORD_HASH is not set" when the
    hash was in `.env` alone."""
    port = closed_port()
    env_file = tmp_path / ".env"
    env_file.write_text(f"DATASETTE_PASSWORD_HASH={hash_password(PASSWORD, iterations=1000)}\n")
    env = clean_env(
        tmp_path,
        PORT=str(port),
        CONVERSATION_LOG_DB=str(tmp_path / "conversation_logs.db"),
        PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
    )
    assert "DATASETTE_PASSWORD_HASH" not in env
    top = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "bot", "--env-file", str(env_file), "all"],
        cwd=PROJECT,
        env=env,
        start_new_session=True,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        anonymous = await first_status(base, "/conversation_logs/stats.json")
        page = await logged_in_status(base, PASSWORD)
    finally:
        top.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(top.communicate(), 60)
    assert "DATASETTE_PASSWORD_HASH is not set" not in output.decode()
    assert (anonymous, page) == (401, 200), output.decode()[-3000:]  # JSON: 401 (issue 24)
