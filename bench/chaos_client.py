"""The chaos soak's client: a few users talking to the bot about once a second, in two servers and a DM,
replying to and reacting on its answers."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from bench.chaos_report import Report
from bot.discord_front.live_reply import WRITING_MARK
from tests.fake_discord import FakeDiscord

USERS = 5
SEND_GAP_S = (0.5, 1.5)  # about one message a second
# Each turn draws a roll: below REACT_BELOW a reaction to an answer, below REPLY_BELOW a message replying
# to one, else a new message (20%, 15%, 65% of turns once there are answers).
REACT_BELOW = 0.2
REPLY_BELOW = 0.35
THUMBS_UP_SHARE = 0.7
QUIET_S = 5.0  # no new reply for this long: every answer is in
SETTLE_TIMEOUT_S = 45.0
SETTLE_POLL_S = 0.2


async def talk(discord: FakeDiscord, rng: random.Random, seed: int, deadline: float, report: Report) -> None:
    second = discord.add_guild("Second Server")
    users = [discord.add_member(f"chatter{i}") for i in range(USERS)]
    for user in users:
        discord.join(user, second)
    places: list[dict[str, Any]] = [{"guild": discord.guilds[0]}, {"guild": second}, {"dm": True}]
    n = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(rng.uniform(*SEND_GAP_S))
        user, place, roll, pick = rng.choice(users), rng.choice(places), rng.random(), rng.random()
        finals = [m for m in discord.sent if m.reference and not m.content.endswith(WRITING_MARK)]
        try:
            if roll < REACT_BELOW and finals:
                target = finals[int(pick * len(finals))]
                await discord.user_reacts(user, target, "👍" if rng.random() < THUMBS_UP_SHARE else "👎")
                report.reactions_sent += 1
                continue
            n += 1
            reply_to = finals[int(pick * len(finals))].id if roll < REPLY_BELOW and finals else None
            if reply_to and discord.sent[[m.id for m in discord.sent].index(reply_to)].channel_id != (
                discord.dm_channel_id if "dm" in place else place["guild"].channels["general"]
            ):
                reply_to = None  # a reply is in the channel of what it answers
            await discord.user_says(
                user, f"chaos {seed}-{n} from {user.name}", mention_bot=True, reply_to=reply_to, **place
            )
            report.messages_sent += 1
        except (ConnectionError, RuntimeError):
            pass  # the bot's socket died under it (kill -9): Discord would not deliver this either


async def settle(discord: FakeDiscord) -> None:
    """Wait until no reply has come or changed for QUIET_S: every answer under way is in."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    seen, quiet_since = None, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET_S:
        now = [(m.id, m.content) for m in discord.sent]
        if now != seen:
            seen, quiet_since = now, time.monotonic()
        await asyncio.sleep(SETTLE_POLL_S)
