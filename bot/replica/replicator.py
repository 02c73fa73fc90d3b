"""`litestream replicate` beside the bot: started with it, restarted if it dies, stopped after it.

The bot never waits on the replica: rows are committed locally first, and Litestream ships them
when it can. An outage is told in one line when it starts and one when the replica has caught up;
a lag past LITESTREAM_LAG_ALARM_SECONDS raises an alarm line in the app log.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from typing import Protocol

from bot.config.settings import Settings
from bot.replica import litestream as replication
from bot.replica.litestream import Health, Lag, ReplicaError, ReplicaStatus
from bot.replica.litestream_config import replica_of

log = logging.getLogger(__name__)
litestream_log = logging.getLogger("litestream")

LAG_CHECK_SECONDS = 10.0  # at most; a short alarm threshold is checked twice as often as it allows
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 15.0, 30.0)
# Litestream's last sync at shutdown may retry for 30 s (its shutdown-sync-timeout), then we kill it.
STOP_TIMEOUT_S = 40.0


class ReplicaWatch(Protocol):
    """What the owners' !stats reads: the replica's state as last measured. Reading it runs nothing: no
    config written, no litestream started. The bot is given one at start (a Replicator, or Unwatched)."""

    def status(self) -> ReplicaStatus: ...


class Unwatched:
    """No Replicator in this process: replication is off, or (under `python -m bot all`) Litestream is
    the parent's child and its lag is measured there."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def status(self) -> ReplicaStatus:
        if self.settings.replica is None:
            return replication.OFF
        url = self.settings.replica.url_for("conversation_logs.db")
        return ReplicaStatus(
            Health.UNMEASURED, f"replica {url}: lag not measured here (`python -m bot status` measures it)"
        )


class Replicator:
    """Litestream beside the bot, and a watch that measures the replica's lag every check_seconds."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.replica = replica_of(settings)
        self.check_seconds = min(LAG_CHECK_SECONDS, max(0.2, self.replica.lag_alarm_seconds / 2))
        self._status = ReplicaStatus(
            Health.UNMEASURED, f"replica {self.replica.url_for('conversation_logs.db')}: lag not measured yet"
        )
        self._process: subprocess.Popen[str] | None = None
        self._stopping = threading.Event()
        self._outage = False  # an error line was told, and the replica has not caught up since
        self._alarmed = False
        self._threads: list[threading.Thread] = []
        self._failures = 0  # Litestream's exits so far: the restart backoff grows with them

    def start(self) -> Replicator:
        try:
            self._spawn()
        except OSError as err:  # a full disk for its config: the bot still starts, the watch retries
            log.error("cannot start litestream yet (%s); trying again every %g s", err, self.check_seconds)
        watch = threading.Thread(target=self._watch, name="replica-watch", daemon=True)
        watch.start()
        self._threads.append(watch)
        log.info("replicating %s to %s every %g s", self.settings.log_db, self.replica.url, self.replica.sync_seconds)
        return self

    def status(self) -> ReplicaStatus:
        """The lag as the watch last measured it (every check_seconds): reading it runs nothing."""
        return self._status

    def stop(self) -> None:
        """After the bot closed its log: Litestream's shutdown makes a last sync of every row."""
        self._stopping.set()
        process = self._process
        if process and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.error("litestream did not stop within %g s; killed it", STOP_TIMEOUT_S)
                process.kill()
                process.wait()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- the child --------------------------------------------------------

    def _spawn(self) -> None:
        self._process = subprocess.Popen(
            replicate_command(self.settings),
            env=replication.child_env(self.settings),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        reader = threading.Thread(target=self._read, args=(self._process,), name="litestream-output", daemon=True)
        reader.start()
        self._threads.append(reader)

    def _read(self, process: subprocess.Popen[str]) -> None:
        for line in process.stdout or ():
            line = line.rstrip()
            litestream_log.debug("%s", line)
            if "level=ERROR" in line and not self._outage:
                self._outage = True
                log.warning(
                    "replication to %s failing (%s); the bot keeps logging locally and will catch up",
                    self.replica.url,
                    replication.last_error(line),
                )

    def _watch(self) -> None:
        """Every check_seconds until stop; an error (a full disk for the config, say) is told once and
        the watch goes on, or nothing would report the replica's lag for the rest of the run."""
        told = ""
        while not self._stopping.wait(self.check_seconds):
            try:
                self._watch_once()
            except Exception as err:
                if str(err) != told:
                    log.error("replica watchdog: %s; checking again every %g s", err, self.check_seconds)
                told = str(err)
            else:
                told = ""

    def _watch_once(self) -> None:
        """One look: start Litestream if it never started, restart it if it exited, else check the lag."""
        if self._process is None:
            self._spawn()
            return
        code = self._process.poll()
        if code is None:
            self._check_lag()
            return
        delay = RESTART_BACKOFF_S[min(self._failures, len(RESTART_BACKOFF_S) - 1)]
        self._failures += 1
        log.error("litestream exited with code %s; restarting it in %g s", code, delay)
        if not self._stopping.wait(delay):
            self._spawn()

    def _check_lag(self) -> None:
        found = replication.measure(self.settings)
        self._status = replication.measured(self.settings, found)
        if self._status.health in replication.ALARMING and not self._alarmed:
            self._alarmed = True
            log.error(
                "ALARM replica lag: %s (threshold LITESTREAM_LAG_ALARM_SECONDS=%g s)",
                _reason(found),
                self.replica.lag_alarm_seconds,
            )
        elif isinstance(found, Lag) and found.waiting_seconds == 0.0 and (self._alarmed or self._outage):
            self._alarmed = self._outage = False
            log.warning("replica %s has caught up: every change is replicated", self.replica.url)


def replicate_command(settings: Settings) -> list[str]:
    """`litestream replicate` with a config written fresh from the settings (an OSError on a full disk)."""
    return [replication.litestream_binary(), "replicate", "-config", str(replication.write_config(settings))]


def _reason(found: Lag | ReplicaError) -> str:
    return (
        str(found)
        if isinstance(found, ReplicaError)
        else f"{found.waiting_seconds:.0f} s of changes not on the replica"
    )
