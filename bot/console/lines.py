"""Reading the operator's lines: edited by readline, and screened, so only text reaches the log.

In a terminal, `input()` edits the line with GNU readline once `readline` is imported: readline reads the
keys in raw mode, so arrow keys, Ctrl-L and history never become text, and no line limit applies. Without
it (stdout redirected, or a Python built without readline) the tty's canonical mode reads the line and
keeps its first 4,095 bytes only; such a line is refused, never cut. Piped input has no limit.
"""

from __future__ import annotations

import asyncio
import sys
import termios
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# Linux's n_tty keeps 4,096 bytes of a line in canonical mode, the last one for the newline.
TTY_LINE_LIMIT = 4095
# Control characters that are text: a tab, and the newlines of a multi-line paste (readline's bracketed
# paste keeps them in one line), as Discord messages hold them too.
TEXT_CONTROLS = frozenset("\t\n")
# Unicode's categories for control characters and for the lone surrogates that undecodable bytes become.
REFUSED_CATEGORIES = {"Cc": "control character", "Cs": "a byte that is not text"}
NOT_KEPT = "not sent, not logged"


class Refused(Exception):
    """A line that is not plain text: its message is the one-line answer, and nothing of it is kept."""


@dataclass(frozen=True)
class LineReader:
    """Reads one screened line at a time; `edited` says readline edits it, `canonical` that the tty cuts it."""

    read: Callable[[str], str] = input
    edited: bool = False
    canonical: bool = False

    def __call__(self, prompt: str, remembered: bool = True) -> str:
        """The next line, or Refused; EOFError at the end of the input. A refused line, or one not
        `remembered` (a yes/no answer), is kept out of the Up-arrow history."""
        before = self._history_length()
        try:
            line = self._screened(prompt)
        except Refused:
            self._trim_history(before)
            raise
        if not remembered:
            self._trim_history(before)
        return line

    def _screened(self, prompt: str) -> str:
        try:
            line = self.read(prompt)
        except UnicodeDecodeError as err:
            raise Refused(f"the line holds bytes that are not {err.encoding} text: {NOT_KEPT}.") from None
        if self.canonical and len(line.encode()) >= TTY_LINE_LIMIT:
            raise Refused(
                f"the terminal cut this line at {TTY_LINE_LIMIT:,} bytes (its line limit without readline): "
                f"{NOT_KEPT}. Paste long messages with stdout on the terminal, or pipe them in."
            )
        screen(line)
        return line

    def _history_length(self) -> int:
        if not self.edited:
            return 0
        import readline

        return readline.get_current_history_length()

    def _trim_history(self, length: int) -> None:
        """Drop what readline added to its history since it held `length` lines (none for an empty line)."""
        if not self.edited:
            return
        import readline

        while readline.get_current_history_length() > length:
            readline.remove_history_item(readline.get_current_history_length() - 1)


def screen(line: str) -> None:
    """Refused names the first control character left in `line` (readline removes the keys it knows)."""
    for column, char in enumerate(line, 1):
        if char not in TEXT_CONTROLS and unicodedata.category(char) in REFUSED_CATEGORIES:
            name = REFUSED_CATEGORIES[unicodedata.category(char)]
            raise Refused(f"column {column} holds U+{ord(char):04X} ({name}), which is not text: {NOT_KEPT}.")


def terminal_reader(commands: Iterable[str]) -> LineReader:
    """readline when both ends are a terminal (what `input()` needs to use it), else plain reads."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        import readline
    except ImportError:  # Python built without it: canonical mode, whose cut is refused
        return LineReader(canonical=sys.stdin.isatty())
    if not interactive:
        return LineReader(canonical=sys.stdin.isatty())
    complete_commands(readline, sorted(commands))
    return LineReader(edited=True)


def complete_commands(rl: ModuleType, commands: list[str]) -> None:
    """Tab completes a command. History stays in memory: a history file would keep what !forget deletes."""

    def complete(text: str, state: int) -> str | None:
        matches = [name for name in commands if name.startswith(text)]
        return matches[state] if state < len(matches) else None

    rl.set_completer_delims(" \t\n")  # the default splits at "!", so the prefix would not be part of the word
    rl.set_completer(complete)
    libedit = "libedit" in (rl.__doc__ or "")  # macOS's Python binds keys in libedit's own syntax
    rl.parse_and_bind("bind ^I rl_complete" if libedit else "tab: complete")


async def read_aside(read: Callable[[str], str], prompt: str) -> str:
    """`read(prompt)` on a daemon thread: Ctrl-C cancels the console while readline still waits for a key,
    and the process can exit, which asyncio.to_thread's pool would not let it do until Enter is pressed."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def settle() -> None:
        try:
            line = read(prompt)
        except BaseException as err:  # EOFError, Refused, ...: for the awaiting side to handle
            loop.call_soon_threadsafe(_unless_done, future, future.set_exception, err)
        else:
            loop.call_soon_threadsafe(_unless_done, future, future.set_result, line)

    threading.Thread(target=settle, name="console-input", daemon=True).start()
    return await future


def _unless_done(future: asyncio.Future[str], settle: Callable[[Any], None], outcome: object) -> None:
    if not future.done():  # a Ctrl-C cancelled the wait meanwhile
        settle(outcome)


@contextmanager
def kept_terminal() -> Iterator[None]:
    """Give the terminal back as it was: a Ctrl-C during a read leaves readline's raw mode set otherwise."""
    if not sys.stdin.isatty():
        yield
        return
    saved = termios.tcgetattr(sys.stdin)
    try:
        yield
    finally:
        termios.tcsetattr(sys.stdin, termios.TCSADRAIN, saved)
