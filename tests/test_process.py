"""`python -m bot` as a real process against the fake Discord and fake Claude."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.support.processes import logged, start_bot

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser


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
