"""A seeded chaos soak: the real `python -m bot` (with the real Litestream) against the loopback fakes,
a client talking to it about once a second, and overlapping real faults; then the invariants.

    python -m bench.chaos --seed 7 --seconds 150

The seed fixes the schedule (every message, reaction and fault, with its time and length), so a
failing seed replays the same run. Faults: kill -9 of the bot's process group (sometimes again
during the restart), SIGTERM, Claude failing (500, 529, 429, 503, a hang past the timeout), the
gateway dropping and resuming, an exclusive lock held by a `sqlite3` process, the log file made
immutable, the data disk filled, and the replica made immutable. Data and replica live on a small
loop-mounted ext4 where the machine allows it (root and /dev/loop*), so "full" and "immutable" are
real even for root; elsewhere those three faults are skipped and the report says why.

At the end, with every fault undone and the bot stopped by SIGTERM: every answered message has
exactly one row (lost 0, duplicated 0), the spools are empty, PRAGMA integrity_check and the FTS5
integrity check pass, every summary table equals a plain GROUP BY, and a restore of the replica
holds every row committed before the last fault began. Exit status 1 when an invariant fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import ROOT
from bench.chaos_bot import Bot
from bench.chaos_client import settle, talk
from bench.chaos_faults import DISK_KINDS, Faults
from bench.chaos_invariants import check
from bench.chaos_report import Report, SoakFiles
from tests.disks import mount_ext4, unmount
from tests.fake_anthropic import FakeAnthropic
from tests.fake_discord import FakeDiscord
from tests.fake_ratelimit import ChannelLimits

READY_TIMEOUT_S = 60.0
READY_POLL_S = 0.1
READY_SETTLE_S = 0.5  # READY and GUILD_CREATE processed
DISK_BYTES = 48 * 1024 * 1024  # the log, the memory, the spool and Litestream's local files fit in ~10 MB
CHANNEL_LIMIT = 10_000  # the log is under test here, not Discord's limit
BOT_ENV = {"BOT_API_MAX_RETRIES": "0", "BOT_API_TIMEOUT": "2", "BOT_RATE_LIMIT": "0", "LITESTREAM_SYNC_INTERVAL": "1"}


class Soak:
    def __init__(self, seed: int, seconds: float, work: Path):
        self.seed, self.seconds, self.files = seed, seconds, SoakFiles(work)
        self.faults_rng, self.client_rng = random.Random(f"{seed}-faults"), random.Random(f"{seed}-client")
        self.disk_reason: str | None = None  # why the loop-mounted ext4 could not be had

    async def run(self) -> Report:
        started = time.monotonic()
        files = self.files
        self.disk_reason = mount_ext4(files.work / "disk.img", files.disk, DISK_BYTES)
        report = Report(self.seed, self.seconds, "a plain directory" if self.disk_reason else "a loop-mounted ext4")
        if self.disk_reason:
            files.disk.mkdir(exist_ok=True)
            report.skipped = dict.fromkeys(DISK_KINDS, self.disk_reason)
        files.data.mkdir(parents=True, exist_ok=True)
        files.replica.mkdir(exist_ok=True)
        try:
            await self._soak(report)
        finally:
            if not self.disk_reason:
                shutil.copytree(files.disk, files.work / "final", dirs_exist_ok=True)  # to look into later
                unmount(files.disk)
        report.wall_seconds = time.monotonic() - started
        return report

    async def _soak(self, report: Report) -> None:
        discord, claude = FakeDiscord(), FakeAnthropic()  # type: ignore[no-untyped-call]
        discord.limits = ChannelLimits(limit=CHANNEL_LIMIT)
        await discord.start()
        await claude.start()
        bot = Bot(self._env(discord, claude), self.files.work)
        faults = Faults(self.faults_rng, self.files, bot, discord, claude)
        try:
            keeper = asyncio.create_task(bot.keep())
            await self._ready(discord)
            deadline = time.monotonic() + self.seconds
            await asyncio.gather(
                talk(discord, self.client_rng, self.seed, deadline, report),
                faults.play(self.seconds, self.disk_reason is None, report),
            )
            faults.end_all()
            await settle(discord)
            code = await bot.finish()
            await keeper
            report.bot_starts = bot.starts
            if code != 0:
                report.failures.append(f"the last stop ended with exit status {code} (see {self.files.work}/bot-*.log)")
            check(self.files, discord, faults.last_fault_at, report)
        finally:
            faults.release_locks()
            await discord.stop()
            await claude.stop()

    async def _ready(self, discord: FakeDiscord) -> None:
        """The clock starts once the bot is first connected (its start takes seconds here)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while discord._live_socket() is None or discord.identify is None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the bot did not connect within {READY_TIMEOUT_S:g} s (see {self.files.work}/bot-0.log)"
                )
            await asyncio.sleep(READY_POLL_S)
        await asyncio.sleep(READY_SETTLE_S)

    def _env(self, discord: FakeDiscord, claude: FakeAnthropic) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DISCORD", "ANTHROPIC", "BOT_", "CONVERSATION", "LITESTREAM"))
        }
        return {
            **env,
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": "fake-token",
            "DISCORD_API_BASE": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "ANTHROPIC_API_KEY": claude.api_key,
            "ANTHROPIC_BASE_URL": claude.url,
            "CONVERSATION_LOG_DB": str(self.files.log_db),
            "BOT_MEMORY_DB": str(self.files.data / "bot_memory.db"),
            "LITESTREAM_REPLICA_URL": f"file://{self.files.replica}",
            **BOT_ENV,
        }


async def soak(seed: int, seconds: float, work: Path) -> Report:
    return await Soak(seed, seconds, work).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=150.0, help="how long the client and faults run")
    parser.add_argument("--work", type=Path, help="keep the run's files here (default: a temporary directory)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix=f"chaos-{args.seed}-"))
    work.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(soak(args.seed, args.seconds, work))
    print(report.line())
    print(
        json.dumps({"seed": report.seed, "faults": dict(report.faults), "skipped": report.skipped, "work": str(work)})
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
