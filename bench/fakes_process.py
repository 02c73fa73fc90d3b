"""The loopback fakes of Discord and Anthropic in a process of their own, driven over a pipe.

Real Discord and Anthropic run elsewhere. On a thread of the bot's process the fakes would hold the
GIL for up to the switch interval (5 ms) whenever the bot's loop wants it, which the bot's loop-lag
probe would count as the bot's own lag. In their own process they compete for the machine's cores
only, as the network and the other side would.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from tests.fake_anthropic import FakeAnthropic
from tests.fake_discord import FakeDiscord

REPLY_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Endpoints:
    api_base: str
    gateway_url: str
    claude_url: str
    claude_key: str


@dataclass(frozen=True)
class Asked:
    """What one round of questions gave: each reply's final text, and timings in the fakes' clock."""

    contents: list[str]
    first_text_after_first_delta_s: float  # of the round's last stream: its first text in Discord
    seconds: float  # from the first question until every reply was complete
    refused: int  # 429s the fake Discord has answered so far


class FakesProcess:
    """Start the fakes in a child process; `ask` runs one round of questions there."""

    def __init__(self, channels: int, users: int, words_per_delta: int, stream_delay: float):
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of the bot's state
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, channels, users, words_per_delta, stream_delay), daemon=True
        )
        self._process.start()
        self.endpoints: Endpoints = self._conn.recv()

    async def ask(self, users: list[int], channels: list[str], words: int) -> Asked:
        """Users (by number) ask at once, each in their channel, for a reply of `words` words."""
        return await asyncio.to_thread(self._call, ("ask", users, channels, words))

    async def refused(self) -> int:
        """The 429s the fake Discord has answered so far."""
        return await asyncio.to_thread(self._call, ("refused",))

    def _call(self, request: tuple[object, ...]) -> Any:
        self._conn.send(request)
        return self._conn.recv()

    def stop(self) -> None:
        self._call(("stop",))
        self._process.join(timeout=10)


def _serve(conn: Connection, channels: int, users: int, words_per_delta: int, stream_delay: float) -> None:
    asyncio.run(_serve_async(conn, channels, users, words_per_delta, stream_delay))


async def _serve_async(conn: Connection, channels: int, users: int, words_per_delta: int, stream_delay: float) -> None:
    discord = FakeDiscord()  # type: ignore[no-untyped-call]
    discord.guilds[0].channels.update({f"bench{i}": str(10**18 + i) for i in range(channels)})
    await discord.start()
    claude = await FakeAnthropic().start()
    claude.words_per_delta, claude.stream_delay = words_per_delta, stream_delay
    members = [discord.add_member(f"user{i}") for i in range(users)]
    conn.send(Endpoints(discord.api_base, discord.gateway_url, claude.url, claude.api_key))
    try:
        while True:
            request = await asyncio.to_thread(conn.recv)
            if request[0] == "stop":
                conn.send(None)
                return
            if request[0] == "refused":
                conn.send(discord.limits.refused)
                continue
            _, chosen, where, words = request
            conn.send(await _ask(discord, claude, [members[i] for i in chosen], where, words))
    finally:
        await discord.stop()
        await claude.stop()


async def _ask(discord: FakeDiscord, claude: FakeAnthropic, users: list[Any], channels: list[str], words: int) -> Asked:
    claude.reply_text = lambda body: " ".join(f"w{i}" for i in range(words))  # type: ignore[method-assign]
    before = len(discord.sent)
    started = time.perf_counter()
    for user, channel in zip(users, channels, strict=True):
        await discord.user_says(user, "stream please", channel=channel, mention_bot=True)
    sent = (await discord.wait_for_sent(before + len(users), timeout=REPLY_TIMEOUT_S))[before:]
    seconds = time.perf_counter() - started
    first_text = sent[-1].versions[0][0] - claude.first_delta_at[-1]
    return Asked([m.content for m in sent], first_text, seconds, discord.limits.refused)
