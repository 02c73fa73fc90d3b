"""`python -m bot` when Discord cannot be reached at start: one line per attempt, and a retry with
backoff, instead of aiohttp's 107-line traceback and an exit."""

from __future__ import annotations

import asyncio
import signal

import pytest

from bot.discord_front.bot import CONNECT_BACKOFF_S
from tests.support.processes import closed_port, spawn_bot

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser

UNREACHABLE_LINE = "cannot reach Discord at"
FIRST_LINE_TIMEOUT_S = 30  # the interpreter's start on a busy machine, plus a slow resolver's NXDOMAIN


async def start_bot(tmp_path, api_base: str) -> asyncio.subprocess.Process:
    tmp_path.mkdir()
    return await spawn_bot(
        tmp_path, DISCORD_TOKEN="fake-token", DISCORD_API_BASE=api_base, DISCORD_GATEWAY_URL="ws://127.0.0.1:9/gateway"
    )


async def lines_until(process, attempts: int) -> list[str]:
    """Its stderr lines until `attempts` attempts to reach Discord have failed."""
    lines = []
    while sum(UNREACHABLE_LINE in line for line in lines) < attempts:
        line = await asyncio.wait_for(process.stderr.readline(), FIRST_LINE_TIMEOUT_S)
        assert line, "the bot exited: " + "".join(lines)
        lines.append(line.decode())
    return lines


async def stopped(process) -> str:
    process.send_signal(signal.SIGTERM)  # during the wait before the next attempt
    _, rest = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, rest.decode()
    return rest.decode()


async def test_unreachable_discord_is_one_line_per_attempt_retried_with_backoff(tmp_path):
    refused_base = f"http://127.0.0.1:{closed_port()}/api/v10"
    refused = await start_bot(tmp_path / "refused", refused_base)
    unresolvable = await start_bot(tmp_path / "dns", "http://discord.invalid/api/v10")  # .invalid never resolves
    try:
        refused_lines, dns_lines = await asyncio.gather(lines_until(refused, 2), lines_until(unresolvable, 1))
    finally:
        rests = [await stopped(refused), await stopped(unresolvable)]

    # The event loop beats while it waits to retry: `python -m bot health` counts the worker alive.
    assert (tmp_path / "refused" / "worker.heartbeat").exists()
    first, second = [line for line in refused_lines if UNREACHABLE_LINE in line]
    assert f"{refused_base} (Cannot connect to host 127.0.0.1" in first
    assert first.rstrip().endswith(f"retrying in {CONNECT_BACKOFF_S[0]:g} s")
    assert second.rstrip().endswith(f"retrying in {CONNECT_BACKOFF_S[1]:g} s")  # the wait grows
    [dns] = [line for line in dns_lines if UNREACHABLE_LINE in line]
    assert "discord.invalid" in dns and "retrying in" in dns
    for output in ["".join(refused_lines), "".join(dns_lines), *rests]:
        assert "Traceback" not in output and "Error:" not in output, output
    assert all("conversation log is flushed" in rest for rest in rests)  # SIGTERM ends the wait cleanly
