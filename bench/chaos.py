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
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.config.settings import Settings
from bot.discord_front.live_reply import WRITING_MARK
from bot.replica import litestream as replication
from bot.store import ConversationLog
from bot.store.spool import Spool
from bot.store.sqlite import sqlite3
from tests.support.disks import chattr_immutable, fill, mount_ext4, unmount
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_ratelimit import ChannelLimits
from tests.support.plain_sql import assert_summary_matches_plain_sql

PROJECT = Path(__file__).resolve().parent.parent
USERS = 5
SEND_GAP_S = (0.5, 1.5)  # about one message a second
FAULT_GAP_S = (1.5, 5.0)  # a new fault this often: shorter than most faults, so they overlap
FAULT_LENGTH_S = (1.5, 6.0)
KINDS = ("kill9", "sigterm", "claude", "gateway", "lock", "immutable", "full", "replica")
DISK_KINDS = {"immutable", "full", "replica"}  # need the loop-mounted ext4
PROCESS_KINDS = {"kill9", "sigterm"}
PROCESS_GAP_S = 12.0  # a start takes ~5 s on 2 busy cores: closer kills would leave the bot down most of the run
READY_TIMEOUT_S = 60.0
CLAUDE_FAILURES = (500, 529, 429, 503, "hang")
DISK_BYTES = 48 * 1024 * 1024  # the log, the memory, the spool and Litestream's local files fit in ~10 MB
RESTART_DELAY_S = 0.5  # a supervisor's (systemd Restart=, Fly, Render) pause before starting again
STOP_TIMEOUT_S = 90.0  # SIGTERM: the drain (7 s here) plus Litestream's last sync, up to 40 s
QUIET_S = 5.0  # no new reply for this long: every answer is in
SETTLE_TIMEOUT_S = 45.0
BOT_ENV = dict(BOT_API_MAX_RETRIES="0", BOT_API_TIMEOUT="2", BOT_RATE_LIMIT="0", LITESTREAM_SYNC_INTERVAL="1")


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    seconds: float
    twice: bool  # kill9: again during the restart; claude: fail several calls


def schedule(rng: random.Random, seconds: float) -> list[Fault]:
    faults, at, last_process = [], rng.uniform(*FAULT_GAP_S), -PROCESS_GAP_S
    while at < seconds - 2:
        kind = rng.choice(KINDS)
        if kind in PROCESS_KINDS and at - last_process < PROCESS_GAP_S:
            kind = rng.choice([k for k in KINDS if k not in PROCESS_KINDS])
        if kind in PROCESS_KINDS:
            last_process = at
        faults.append(Fault(round(at, 2), kind, round(rng.uniform(*FAULT_LENGTH_S), 2), rng.random() < 0.4))
        at += rng.uniform(*FAULT_GAP_S)
    return faults


@dataclass
class Report:
    seed: int
    seconds: float
    disk: str
    messages_sent: int = 0
    reactions_sent: int = 0
    faults: Counter = field(default_factory=Counter)
    skipped: dict = field(default_factory=dict)
    bot_starts: int = 0
    answered: int = 0
    rows: int = 0
    lost: int = 0
    duplicated: int = 0
    left_in_spool: int = 0
    reply_ids_missing: int = 0
    replica_rows: int = 0
    replica_missing: int = 0
    failures: list = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def line(self) -> str:
        faults = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults.items()))
        return (
            f"seed {self.seed}: {self.seconds:g} s on {self.disk}, {self.wall_seconds:.0f} s wall; "
            f"messages sent {self.messages_sent}, reactions {self.reactions_sent}, answered {self.answered}; "
            f"faults injected {sum(self.faults.values())} ({faults}); bot started {self.bot_starts} times; "
            f"rows {self.rows}: lost {self.lost}, duplicated {self.duplicated}, left in spool "
            f"{self.left_in_spool}; reply ids missing {self.reply_ids_missing}; replica restored "
            f"{self.replica_rows} rows, missing {self.replica_missing} committed before the last fault; "
            + ("all invariants hold" if self.ok else "FAILED: " + "; ".join(self.failures))
        )


class Bot:
    """`python -m bot` under a supervisor that starts it again whenever it exits, until `finish`."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs = env, logs
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.finishing = False
        self.started = asyncio.Event()

    async def keep(self) -> None:
        while not self.finishing:
            with open(self.logs / f"bot-{self.starts}.log", "wb") as out:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    "--env-file",
                    "/dev/null",
                    cwd=PROJECT,
                    env=self.env,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )  # its own group: kill -9 takes Litestream too
            self.starts += 1
            self.started.set()
            await self.process.wait()
            if not self.finishing:
                await asyncio.sleep(RESTART_DELAY_S)

    def kill(self) -> None:
        """kill -9 of the whole group, as a host's OOM killer or a container stop does."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)

    async def finish(self) -> int | None:
        """SIGTERM, then wait; the exit status, or None when it had to be killed."""
        self.finishing = True
        self.terminate()
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            self.kill()
            return None


class Soak:
    def __init__(self, seed: int, seconds: float, work: Path):
        self.seed, self.seconds, self.work = seed, seconds, work
        self.faults_rng, self.client_rng = random.Random(f"{seed}-faults"), random.Random(f"{seed}-client")
        self.data, self.replica_dir = work / "disk" / "data", work / "disk" / "replica"
        self.log_db = self.data / "conversation_logs.db"
        self.disk_reason: str | None = None
        self.undo: list = []  # how to end each fault still on, at the end
        self.locks: list[subprocess.Popen] = []
        self.last_fault_at = 0.0  # wall clock

    async def run(self) -> Report:
        started = time.monotonic()
        self.disk_reason = mount_ext4(self.work / "disk.img", self.work / "disk", DISK_BYTES)
        report = Report(self.seed, self.seconds, "a plain directory" if self.disk_reason else "a loop-mounted ext4")
        if self.disk_reason:
            (self.work / "disk").mkdir(exist_ok=True)
            report.skipped = dict.fromkeys(DISK_KINDS, self.disk_reason)
        self.data.mkdir(parents=True, exist_ok=True)
        self.replica_dir.mkdir(exist_ok=True)
        try:
            await self._soak(report)
        finally:
            for lock in self.locks:
                lock.kill()
            if not self.disk_reason:
                shutil.copytree(self.work / "disk", self.work / "final", dirs_exist_ok=True)  # to look into later
                unmount(self.work / "disk")
        report.wall_seconds = time.monotonic() - started
        return report

    async def _soak(self, report: Report) -> None:
        discord, claude = FakeDiscord(), FakeAnthropic()
        discord.limits = ChannelLimits(limit=10_000)  # the log is under test here, not Discord's limit
        await discord.start()
        await claude.start()
        try:
            bot = Bot(self._env(discord, claude), self.work)
            keeper = asyncio.create_task(bot.keep())
            await self._ready(discord)
            deadline = time.monotonic() + self.seconds
            await asyncio.gather(self._client(discord, deadline, report), self._faults(bot, discord, claude, report))
            await self._end_faults(claude)
            await self._settle(discord)
            code = await bot.finish()
            await keeper
            report.bot_starts = bot.starts
            if code != 0:
                report.failures.append(f"the last stop ended with exit status {code} (see {self.work}/bot-*.log)")
            self._check(discord, report)
        finally:
            await discord.stop()
            await claude.stop()

    async def _ready(self, discord: FakeDiscord) -> None:
        """The clock starts once the bot is first connected (its start takes seconds here)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while discord._live_socket() is None or discord.identify is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not connect within {READY_TIMEOUT_S:g} s (see {self.work}/bot-0.log)")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # READY and GUILD_CREATE processed

    def _env(self, discord: FakeDiscord, claude: FakeAnthropic) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DISCORD", "ANTHROPIC", "BOT_", "CONVERSATION", "LITESTREAM"))
        }
        return {
            **env,
            "PYTHONPATH": str(PROJECT),
            "DISCORD_TOKEN": "fake-token",
            "DISCORD_API_BASE": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "ANTHROPIC_API_KEY": claude.api_key,
            "ANTHROPIC_BASE_URL": claude.url,
            "CONVERSATION_LOG_DB": str(self.log_db),
            "BOT_MEMORY_DB": str(self.data / "bot_memory.db"),
            "LITESTREAM_REPLICA_URL": f"file://{self.replica_dir}",
            **BOT_ENV,
        }

    # -- the client ---------------------------------------------------------------------------------

    async def _client(self, discord: FakeDiscord, deadline: float, report: Report) -> None:
        rng = self.client_rng
        second = discord.add_guild("Second Server")
        users = [discord.add_member(f"chatter{i}") for i in range(USERS)]
        for user in users:
            discord.join(user, second)
        places = [dict(guild=discord.guilds[0]), dict(guild=second), dict(dm=True)]
        n = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(rng.uniform(*SEND_GAP_S))
            user, place, roll, pick = rng.choice(users), rng.choice(places), rng.random(), rng.random()
            finals = [m for m in discord.sent if m.reference and not m.content.endswith(WRITING_MARK)]
            try:
                if roll < 0.2 and finals:
                    target = finals[int(pick * len(finals))]
                    await discord.user_reacts(user, target, "👍" if rng.random() < 0.7 else "👎")
                    report.reactions_sent += 1
                    continue
                n += 1
                reply_to = finals[int(pick * len(finals))].id if roll < 0.35 and finals else None
                if reply_to and discord.sent[[m.id for m in discord.sent].index(reply_to)].channel_id != (
                    discord.dm_channel_id if "dm" in place else place["guild"].channels["general"]
                ):
                    reply_to = None  # a reply is in the channel of what it answers
                await discord.user_says(
                    user, f"chaos {self.seed}-{n} from {user.name}", mention_bot=True, reply_to=reply_to, **place
                )
                report.messages_sent += 1
            except (ConnectionError, RuntimeError):
                pass  # the bot's socket died under it (kill -9): Discord would not deliver this either

    # -- the faults ---------------------------------------------------------------------------------

    async def _faults(self, bot: Bot, discord: FakeDiscord, claude: FakeAnthropic, report: Report) -> None:
        started = time.monotonic()
        running = []
        for fault in schedule(self.faults_rng, self.seconds):
            await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
            if fault.kind in DISK_KINDS and self.disk_reason:
                continue
            report.faults[fault.kind] += 1
            self.last_fault_at = time.time()
            running.append(asyncio.create_task(self._fault(fault, bot, discord, claude)))
        await asyncio.gather(*running)

    async def _fault(self, fault: Fault, bot: Bot, discord: FakeDiscord, claude: FakeAnthropic) -> None:
        match fault.kind:
            case "kill9":
                await self._kill(bot, fault)
            case "sigterm":
                bot.terminate()
            case "claude":
                count = 1 + fault.twice * 3
                claude.failures.extend(
                    CLAUDE_FAILURES[(int(fault.at * 10) + i) % len(CLAUDE_FAILURES)] for i in range(count)
                )
            case "gateway":
                if discord._live_socket() is not None:
                    await discord.drop_connection()
            case "lock":
                await self._hold(self._lock, self._unlock, fault.seconds)
            case "immutable":
                await self._hold(
                    lambda: chattr_immutable(self.log_db, True),
                    lambda _: chattr_immutable(self.log_db, False),
                    fault.seconds,
                )
            case "full":
                await self._hold(
                    lambda: fill(self.data, f"filler-{fault.at}"),
                    lambda filler: filler.unlink(missing_ok=True),
                    fault.seconds,
                )
            case "replica":
                await self._hold(
                    lambda: chattr_immutable(self.replica_dir, True, recursive=True),
                    lambda _: chattr_immutable(self.replica_dir, False, recursive=True),
                    fault.seconds,
                )

    async def _kill(self, bot: Bot, fault: Fault) -> None:
        starts = bot.starts
        bot.kill()
        if not fault.twice:
            return
        while bot.starts == starts:  # the supervisor starts it again...
            await asyncio.sleep(0.05)
        await asyncio.sleep(fault.seconds / 6)  # ...and it dies again while starting (0.25-1 s in)
        bot.kill()

    async def _hold(self, begin, end, seconds: float) -> None:
        token = await asyncio.to_thread(begin)  # filling 48 MB must not stall the fakes' loop
        entry = (end, token)
        self.undo.append(entry)
        await asyncio.sleep(seconds)
        if entry in self.undo:
            self.undo.remove(entry)
            end(token)

    def _lock(self) -> subprocess.Popen:
        """Another process holding the log's write lock: the sqlite3 shell in an open EXCLUSIVE transaction."""
        shell = subprocess.Popen(
            ["sqlite3", str(self.log_db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        shell.stdin.write(".timeout 1000\nBEGIN EXCLUSIVE;\n")
        shell.stdin.flush()
        self.locks.append(shell)
        return shell

    def _unlock(self, shell: subprocess.Popen) -> None:
        try:
            shell.stdin.write("COMMIT;\n.quit\n")
            shell.stdin.close()
            shell.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            shell.kill()

    async def _end_faults(self, claude: FakeAnthropic) -> None:
        claude.failures.clear()
        while self.undo:
            end, token = self.undo.pop()
            end(token)

    async def _settle(self, discord: FakeDiscord) -> None:
        """Wait until no reply has come or changed for QUIET_S: every answer under way is in."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        seen, quiet_since = None, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET_S:
            now = [(m.id, m.content) for m in discord.sent]
            if now != seen:
                seen, quiet_since = now, time.monotonic()
            await asyncio.sleep(0.2)

    # -- the invariants -----------------------------------------------------------------------------

    def _check(self, discord: FakeDiscord, report: Report) -> None:
        answered = {
            str(m.reference["message_id"]) for m in discord.sent if m.reference and not m.content.endswith(WRITING_MARK)
        }
        report.answered = len(answered)
        with sqlite3.connect(self.log_db) as conn:
            rows = conn.execute("select message_id, reply_message_id, timestamp from conversations").fetchall()
            integrity = conn.execute("pragma integrity_check").fetchone()[0]
            try:
                conn.execute("insert into conversations_fts(conversations_fts) values ('integrity-check')")
                fts = "ok"
            except sqlite3.Error as err:
                fts = str(err)
        counts = Counter(row[0] for row in rows)
        report.rows = len(rows)
        report.lost = len(answered - set(counts))
        report.duplicated = sum(count - 1 for count in counts.values())
        replies = {m.id for m in discord.sent}
        report.reply_ids_missing = sum(
            1 for message_id, reply_id, _ in rows if message_id in answered and reply_id not in replies
        )
        spools = [
            Spool(self.log_db.with_name(self.log_db.name + ".spool.jsonl")),
            Spool(self.log_db.with_name(self.log_db.name + ".replies.jsonl")),
        ]
        report.left_in_spool = sum(len(spool.read()) for spool in spools)
        self._fail_unless(report, report.lost == 0, f"{report.lost} answered message(s) have no row")
        self._fail_unless(report, report.duplicated == 0, f"{report.duplicated} duplicated row(s)")
        self._fail_unless(report, report.left_in_spool == 0, f"{report.left_in_spool} row(s) left in the spool")
        self._fail_unless(report, integrity == "ok", f"integrity_check: {integrity}")
        self._fail_unless(report, fts == "ok", f"FTS5 integrity-check: {fts}")
        self._check_summaries(report)
        self._check_replica(report, rows)

    def _fail_unless(self, report: Report, holds: bool, failure: str) -> None:
        if not holds:
            report.failures.append(failure)

    def _check_summaries(self, report: Report) -> None:
        try:
            assert_summary_matches_plain_sql(ConversationLog(self.log_db))
        except AssertionError as err:
            report.failures.append(f"a summary table differs from its GROUP BY: {str(err)[:200]}")

    def _check_replica(self, report: Report, rows: list[tuple]) -> None:
        settings = Settings.from_env(self._replica_env(), dotenv_path=None)
        target = self.work / "restored.db"
        target.unlink(missing_ok=True)
        try:
            replication.restore(settings, "conversation_logs.db", target)
        except replication.ReplicaError as err:
            report.failures.append(f"restoring the replica: {err}")
            return
        with sqlite3.connect(target) as conn:
            restored = {row[0] for row in conn.execute("select message_id from conversations")}
        before = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.last_fault_at - 1))
        committed_before = {message_id for message_id, _, at in rows if at < before}
        report.replica_rows = len(restored)
        report.replica_missing = len(committed_before - restored)
        self._fail_unless(
            report,
            report.replica_missing == 0,
            f"the replica lacks {report.replica_missing} row(s) committed before the last fault",
        )

    def _replica_env(self) -> dict[str, str]:
        return {
            "CONVERSATION_LOG_DB": str(self.log_db),
            "BOT_MEMORY_DB": str(self.data / "bot_memory.db"),
            "LITESTREAM_REPLICA_URL": f"file://{self.replica_dir}",
        }


async def soak(seed: int, seconds: float, work: Path) -> Report:
    return await Soak(seed, seconds, work).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
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
