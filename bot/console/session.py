"""The console's loop: read a screened line, run it as a command or chat it through the service."""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Callable
from pathlib import Path

import click

from bot.config.settings import Settings
from bot.console.commands import CONFIRM_WORDS, ConsoleCommands
from bot.console.lines import LineReader, Refused, kept_terminal, read_aside, terminal_reader
from bot.core.service import BotService, Incoming, Redelivery

PROMPT = "you> "
CONFIRM_PROMPT = "yes/no> "
QUIT = "quit"
# How alike a typo and a command must be to suggest it (difflib's ratio): `stat` and `stats` score 0.89,
# `forgot` and `forget` 0.83, `hist` and `history` 0.73; `frobnicate` comes closest to `forget`, at 0.38.
SUGGEST_CUTOFF = 0.6


class Console:
    """A terminal front end over the same service: try the whole bot without Discord."""

    def __init__(
        self,
        service: BotService,
        settings: Settings,
        *,
        user_name: str = "console",
        echo: Callable[[str], None] = click.echo,
        export_dir: Path = Path("."),
    ):
        self.service = service
        self.prefix = settings.command_prefix
        self.user_name = user_name
        self.echo = echo
        self.commands = ConsoleCommands(service, settings, echo, self.confirm, user_name, export_dir)
        self.table = self.commands.table()
        self.read = LineReader()

    @property
    def names(self) -> list[str]:
        return [*self.table, QUIT]

    async def run(self, read: LineReader | None = None) -> None:
        """Until Ctrl-D, !quit or Ctrl-C; `read` defaults to the terminal's (readline when it is one)."""
        self.read = read or terminal_reader(self.prefix + name for name in self.names)
        with kept_terminal():
            await self.commands.help()
            await self._loop()

    async def _loop(self) -> None:
        while True:
            try:
                line = await read_aside(self.read, PROMPT)
            except EOFError:
                return
            except Refused as refusal:
                self.echo(f"Refused: {refusal}")
                continue
            if line.strip().partition(" ")[0] == self.prefix + QUIT:
                return
            await self.handle(line)

    async def handle(self, line: str) -> None:
        """A line that starts with the prefix is a command, known or not; never a message to Claude."""
        text = line.strip()
        if not text:
            return
        if text.startswith(self.prefix):
            await self.command(text.removeprefix(self.prefix))
            return
        await self.chat(line)

    async def command(self, text: str) -> None:
        name, _, argument = text.partition(" ")
        if name in self.table:
            await self.table[name](argument.strip() or None)
            return
        answer = f"unknown command {self.prefix}{name}, try {self.prefix}help"
        close = difflib.get_close_matches(name.lower(), self.names, n=1, cutoff=SUGGEST_CUTOFF)
        self.echo(answer + (f" (did you mean {self.prefix}{close[0]}?)" if close else ""))

    async def chat(self, line: str) -> None:
        reply = await self.service.chat(
            Incoming(
                user_id=self.user_name,
                user_name=self.user_name,
                channel_id="console",
                text=line,
                message_id=f"console-{uuid.uuid4().hex}",
            )
        )
        if isinstance(reply, Redelivery):
            return  # each line has its own id: never, but the type says it could be
        self.echo(f"bot [{reply.model or 'no model'}]> {reply.text}")

    async def confirm(self, question: str) -> bool:
        """Yes only for a typed yes; the end of the input or a refused line keeps everything."""
        self.echo(f"{question} Type yes to confirm.")
        try:
            answer = await read_aside(lambda prompt: self.read(prompt, remembered=False), CONFIRM_PROMPT)
        except (EOFError, Refused):
            return False
        return answer.strip().lower() in CONFIRM_WORDS
