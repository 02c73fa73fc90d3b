"""`python -m bot console` in a real pseudo-terminal (stdlib pty): keys go in as a terminal sends them.

The child's stdin, stdout and stderr are the pty's slave side, so it sees a tty exactly as in a
terminal emulator (canonical mode, its 4,095-byte line limit, echo); the test types on the master side.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import signal
import struct
import sys
import termios
from pathlib import Path

from tests.support import PROJECT

ENTER = "\r"  # what a terminal sends for the Enter key (the tty turns it into "\n" in canonical mode)
LEFT = "\x1b[D"
UP = "\x1b[A"
CTRL_L = "\x0c"
CTRL_D = "\x04"
CTRL_C = "\x03"
TAB = "\t"
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"  # bracketed paste, which readline turns on
ROWS, COLUMNS = 24, 80
CHUNK = 512  # bytes typed at once: a paste arrives in pieces too, and the pty's input queue is finite
WAIT_S = 30.0
PROMPT = "you> "
POLL_S = 0.02


def take_terminal() -> None:
    """In the child, in its new session: the pty becomes its controlling terminal, as a shell's, so Ctrl-C
    is a SIGINT to it (without, the keys are only bytes). And SIGINT and SIGQUIT act as in a foreground job:
    a shell starts a command run with `&` without job control (a CI script's, `nohup ... &`) with both
    ignored, every child inherits that, and Ctrl-C then did nothing (3 of 3 whole-suite runs launched so)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


def signal_state(pid: int) -> str:
    """The child's blocked, ignored and caught signals (/proc), and this process's SIGINT handler and mask:
    a SIGINT blocked or ignored here is inherited by every child started from here."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        status = []
    child = " ".join(line.replace("\t", "") for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt")))
    mask = sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))
    here = f"SIGINT handler {signal.getsignal(signal.SIGINT)!r}, mask {mask}"
    return f"child {child}; test process {here}"


class Terminal:
    """One console process on a pty; `expect` waits for output, `type` sends keys."""

    def __init__(self, process: asyncio.subprocess.Process, master: int):
        self.process = process
        self.master = master
        self.output = ""
        self._seen = 0  # where the next expect starts looking
        self._closed = False  # the child closed its side: no more output will come
        self._at_prompt = False  # the last expect saw the prompt and nothing was typed since
        asyncio.get_running_loop().add_reader(master, self._read)

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path) -> Terminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--env-file",
            os.devnull,
            "console",
            cwd=cwd,
            # PYTHONFAULTHANDLER: a SIGABRT makes the child print every thread's stack (exited(), on a hang).
            env={**env, "TERM": "xterm", "PYTHONPATH": str(PROJECT), "PYTHONFAULTHANDLER": "1"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=take_terminal,
        )
        os.close(slave)
        os.set_blocking(master, False)
        return cls(process, master)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the pty
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            self._closed = True
        self.output += data.decode("utf-8", "replace")

    async def expect(self, text: str, timeout: float = WAIT_S) -> str:
        """Wait until `text` appears after what the last expect matched; return the output before it."""
        async with asyncio.timeout(timeout):
            while (found := self.output.find(text, self._seen)) < 0:
                if self.process.returncode is not None and self._closed:
                    raise AssertionError(f"the console exited before {text!r}:\n{self.output[-2000:]}")
                await asyncio.sleep(POLL_S)
        before = self.output[self._seen : found]
        self._seen = found + len(text)
        self._at_prompt = text == PROMPT
        return before

    async def type(self, keys: str) -> None:
        self._at_prompt = False
        data = keys.encode()
        while data:
            try:
                written = os.write(self.master, data[:CHUNK])
            except BlockingIOError:
                written = 0
            data = data[written:]
            await asyncio.sleep(0.01)  # let the child drain the pty's input queue

    async def line(self, keys: str, prompt: str = PROMPT) -> None:
        """Wait for the prompt, then type `keys` and Enter."""
        await self.expect(prompt)
        await self.type(keys + ENTER)

    async def exited(self, timeout: float = WAIT_S) -> int:
        """The child's exit status once it ends; if it has not within `timeout`, SIGABRT makes it print every
        thread's stack (PYTHONFAULTHANDLER), and the failure shows them with the rest of the terminal."""
        try:
            async with asyncio.timeout(timeout):
                return await self.process.wait()
        except TimeoutError:
            signals = signal_state(self.process.pid)
            self.process.send_signal(signal.SIGABRT)
            await asyncio.sleep(1.0)  # for the stacks to reach the pty
            shown = "\n".join(line for line in self.output.splitlines() if not line.startswith("Extension modules"))
            message = f"the console did not exit within {timeout:g} s ({signals}):\n{shown[-6000:]}"
            raise AssertionError(message) from None

    async def close(self) -> int:
        """Ctrl-D at the prompt ends the console; returns its exit status. Typed before the prompt, it
        would reach the tty while readline has handed it back in canonical mode between two lines."""
        if self.process.returncode is None:
            if not self._at_prompt:
                await self.expect(PROMPT)
            await self.type(CTRL_D)
        try:
            async with asyncio.timeout(WAIT_S):
                return await self.process.wait()
        finally:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self.master)
            os.close(self.master)
