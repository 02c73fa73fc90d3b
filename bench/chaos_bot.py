"""The bot under a chaos soak: the real `python -m bot`, started again whenever it exits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bench import ROOT

RESTART_DELAY_S = 0.5  # a supervisor's (systemd Restart=, Fly, Render) pause before starting again
STOP_TIMEOUT_S = 90.0  # SIGTERM: the drain (7 s here) plus Litestream's last sync, up to 40 s


class Bot:
    """`python -m bot` under a supervisor that starts it again whenever it exits, until `finish`."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs = env, logs
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.finishing = False
        self.started = asyncio.Event()

    @property
    def process(self) -> asyncio.subprocess.Process:
        if self._process is None:
            raise RuntimeError("the bot has not been started (call keep first)")
        return self._process

    async def keep(self) -> None:
        while not self.finishing:
            with open(self.logs / f"bot-{self.starts}.log", "wb") as out:
                self._process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    "--env-file",
                    "/dev/null",
                    cwd=ROOT,
                    env=self.env,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )  # its own group: kill -9 takes Litestream too
            self.starts += 1
            self.started.set()
            await self._process.wait()
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
