"""One machine, one volume: the bot and Datasette side by side, as `python -m bot all` runs them.

Platforms give a volume to one machine or service only (docs/deploying.md), so the Procfile's two
processes run here as children of one supervisor, itself run by `litestream replicate -exec`:

    litestream replicate -exec "python -m bot children"   (replicates; forwards SIGTERM; last sync)
      └─ supervisor                                       (this module)
           ├─ worker: python -m bot run --no-replicate
           └─ web:    the Procfile's web line, through sh

A child that dies is restarted on its own, after a growing pause; the other one is left alone.
SIGTERM (or SIGINT) stops both and waits for them, so the bot flushes its log before Litestream,
which waits for us, makes its last sync.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from bot.config.settings import ROOT

log = logging.getLogger(__name__)

POLL_S = 0.2
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 15.0, 30.0)
HEALTHY_AFTER_S = 60.0  # a child that ran this long starts its backoff over
STOP_TIMEOUT_S = 30.0  # the bot may wait for a Claude answer under way (BOT_API_TIMEOUT) before it stops


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        # Its own process group: the web line is `sh -c "migrate && datasette ..."`, and a signal to
        # sh alone would leave Datasette running. cwd: where the Procfile's relative paths point.
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, start_new_session=True)
        self.started = time.monotonic()
        self.restart_at = None
        log.info("started %s (pid %d)", self.name, self.process.pid)

    def check(self, now: float) -> None:
        """Restart a child that exited, after its backoff; never touch the other."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
            return
        code = self.process.poll() if self.process else None  # supervise() starts every child first
        if code is None:
            return
        if now - self.started >= HEALTHY_AFTER_S:
            self.failures = 0
        delay = RESTART_BACKOFF_S[min(self.failures, len(RESTART_BACKOFF_S) - 1)]
        self.failures += 1
        self.restart_at = now + delay
        log.error(
            "%s exited with code %s; restarting it in %g s (the other process keeps running)", self.name, code, delay
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if not self.process or self.process.poll() is not None:
            return
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("%s did not stop within %g s; killing it", self.name, STOP_TIMEOUT_S)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def supervise(commands: dict[str, list[str]], env: dict[str, str] | None = None) -> int:
    """Run every command until SIGTERM or SIGINT; returns the exit code (0 after a clean stop)."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _: stopping.set())
    children = [Child(name, argv, dict(env or os.environ)) for name, argv in commands.items()]
    for child in children:
        child.start()
    while not stopping.wait(POLL_S):
        now = time.monotonic()
        for child in children:
            child.check(now)
    log.info("stopping %s", " and ".join(child.name for child in children))
    for child in children:
        child.stop()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        child.wait(deadline)
    log.info("stopped")
    return 0
