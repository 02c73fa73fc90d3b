"""The chaos soak's faults: a seeded schedule of overlapping real faults, played against the bot, each
undone after its length (or at the end, whichever comes first)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.chaos_bot import Bot
from bench.chaos_report import Report, SoakFiles
from tests.disks import chattr_immutable, fill
from tests.fake_anthropic import FakeAnthropic
from tests.fake_discord import FakeDiscord

FAULT_GAP_S = (1.5, 5.0)  # a new fault this often: shorter than most faults, so they overlap
FAULT_LENGTH_S = (1.5, 6.0)
LAST_FAULT_BEFORE_END_S = 2
TWICE_SHARE = 0.4  # of faults: kill9 again during the restart, Claude failing several calls
KINDS = ("kill9", "sigterm", "claude", "gateway", "lock", "immutable", "full", "replica")
DISK_KINDS = {"immutable", "full", "replica"}  # need the loop-mounted ext4
PROCESS_KINDS = {"kill9", "sigterm"}
PROCESS_GAP_S = 12.0  # a start takes ~5 s on 2 busy cores: closer kills would leave the bot down most of the run
CLAUDE_FAILURES: tuple[int | str, ...] = (500, 529, 429, 503, "hang")
CLAUDE_FAILURES_TWICE = 4  # calls failed by a `twice` Claude fault
SECOND_KILL_SHARE = 1 / 6  # of the fault's length after the restart: 0.25-1 s into the start
RESTART_POLL_S = 0.05
UNLOCK_TIMEOUT_S = 10

Undo = tuple[Callable[[Any], object], Any]  # how to end a fault, and what its start returned


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    seconds: float
    twice: bool  # kill9: again during the restart; claude: fail several calls


def schedule(rng: random.Random, seconds: float) -> list[Fault]:
    faults, at, last_process = [], rng.uniform(*FAULT_GAP_S), -PROCESS_GAP_S
    while at < seconds - LAST_FAULT_BEFORE_END_S:
        kind = rng.choice(KINDS)
        if kind in PROCESS_KINDS and at - last_process < PROCESS_GAP_S:
            kind = rng.choice([k for k in KINDS if k not in PROCESS_KINDS])
        if kind in PROCESS_KINDS:
            last_process = at
        faults.append(Fault(round(at, 2), kind, round(rng.uniform(*FAULT_LENGTH_S), 2), rng.random() < TWICE_SHARE))
        at += rng.uniform(*FAULT_GAP_S)
    return faults


class Faults:
    """Plays the schedule; keeps how to undo each fault still on, and when the last one began."""

    def __init__(self, rng: random.Random, files: SoakFiles, bot: Bot, discord: FakeDiscord, claude: FakeAnthropic):
        self.rng, self.files = rng, files
        self.bot, self.discord, self.claude = bot, discord, claude
        self.undo: list[Undo] = []
        self.locks: list[subprocess.Popen[str]] = []
        self.last_fault_at = 0.0  # wall clock

    async def play(self, seconds: float, on_disk: bool, report: Report) -> None:
        """The schedule for `seconds`; the disk faults only `on_disk` (the loop-mounted ext4)."""
        started = time.monotonic()
        running = []
        for fault in schedule(self.rng, seconds):
            await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
            if fault.kind in DISK_KINDS and not on_disk:
                continue
            report.faults[fault.kind] += 1
            self.last_fault_at = time.time()
            running.append(asyncio.create_task(self._fault(fault)))
        await asyncio.gather(*running)

    def end_all(self) -> None:
        self.claude.failures.clear()
        while self.undo:
            end, token = self.undo.pop()
            end(token)

    def release_locks(self) -> None:
        for lock in self.locks:
            lock.kill()

    async def _fault(self, fault: Fault) -> None:
        log_db, data, replica = self.files.log_db, self.files.data, self.files.replica
        match fault.kind:
            case "kill9":
                await self._kill(fault)
            case "sigterm":
                self.bot.terminate()
            case "claude":
                count = 1 + fault.twice * (CLAUDE_FAILURES_TWICE - 1)
                self.claude.failures.extend(
                    CLAUDE_FAILURES[(int(fault.at * 10) + i) % len(CLAUDE_FAILURES)] for i in range(count)
                )
            case "gateway":
                if self.discord._live_socket() is not None:
                    await self.discord.drop_connection()
            case "lock":
                await self._hold(self._lock, self._unlock, fault.seconds)
            case "immutable":
                await self._hold(
                    lambda: chattr_immutable(log_db, True), lambda _: chattr_immutable(log_db, False), fault.seconds
                )
            case "full":
                await self._hold(
                    lambda: fill(data, f"filler-{fault.at}"),
                    lambda filler: filler.unlink(missing_ok=True),
                    fault.seconds,
                )
            case "replica":
                await self._hold(
                    lambda: chattr_immutable(replica, True, recursive=True),
                    lambda _: chattr_immutable(replica, False, recursive=True),
                    fault.seconds,
                )

    async def _kill(self, fault: Fault) -> None:
        starts = self.bot.starts
        self.bot.kill()
        if not fault.twice:
            return
        while self.bot.starts == starts:  # the supervisor starts it again...
            await asyncio.sleep(RESTART_POLL_S)
        await asyncio.sleep(fault.seconds * SECOND_KILL_SHARE)  # ...and it dies again while starting
        self.bot.kill()

    async def _hold(self, begin: Callable[[], Any], end: Callable[[Any], object], seconds: float) -> None:
        token = await asyncio.to_thread(begin)  # filling 48 MB must not stall the fakes' loop
        entry = (end, token)
        self.undo.append(entry)
        await asyncio.sleep(seconds)
        if entry in self.undo:
            self.undo.remove(entry)
            end(token)

    def _lock(self) -> subprocess.Popen[str]:
        """Another process holding the log's write lock: the sqlite3 shell in an open EXCLUSIVE transaction."""
        shell = subprocess.Popen(
            ["sqlite3", str(self.files.log_db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert shell.stdin is not None  # stdin=PIPE
        shell.stdin.write(".timeout 1000\nBEGIN EXCLUSIVE;\n")
        shell.stdin.flush()
        self.locks.append(shell)
        return shell

    def _unlock(self, shell: subprocess.Popen[str]) -> None:
        assert shell.stdin is not None  # stdin=PIPE
        try:
            shell.stdin.write("COMMIT;\n.quit\n")
            shell.stdin.close()
            shell.wait(UNLOCK_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            shell.kill()
