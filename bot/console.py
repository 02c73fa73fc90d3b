"""A terminal front end over the same service: try the whole bot without Discord."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import click

from bot.core.formatting import candidates_text, history_text, stats_text
from bot.core.service import BotService, Incoming, Redelivery
from bot.store.scope import Scope

HELP = """Type a message to chat. Commands:
  {p}stats            conversation statistics
  {p}history [user]   last 10 exchanges (yours, or a user id or name)
  {p}export           write conversation_export_YYYYMMDD_HHMMSS.csv to the current directory
  {p}help             this text; Ctrl-D or {p}quit leaves"""


class Console:
    """The console user is the bot's operator, so every command reaches every row."""

    def __init__(
        self,
        service: BotService,
        *,
        prefix: str = "!",
        user_name: str = "console",
        echo: Callable[[str], None] = click.echo,
        export_dir: Path = Path("."),
    ):
        self.service = service
        self.prefix = prefix
        self.user_name = user_name
        self.echo = echo
        self.export_dir = export_dir
        self.commands = {"stats": self.stats, "history": self.history, "export": self.export, "help": self.help}

    async def run(self, read_line: Callable[[str], str] = input) -> None:
        await self.help()
        while True:
            try:
                line = await asyncio.to_thread(read_line, "you> ")
            except EOFError:
                return
            if line.strip() == f"{self.prefix}quit":
                return
            await self.handle(line)

    async def handle(self, line: str) -> None:
        name, _, argument = line.strip().removeprefix(self.prefix).partition(" ")
        if line.startswith(self.prefix) and name in self.commands:
            await self.commands[name](argument.strip() or None)
            return
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

    async def stats(self, _argument: str | None = None) -> None:
        self.echo(stats_text(await self.service.command_data.stats()))

    async def history(self, user: str | None = None) -> None:
        query = user or self.user_name
        found = await self.service.command_data.find_users(query, Scope.everything())
        if len(found) > 1:
            self.echo(candidates_text(query, found, self.prefix))
            return
        user_id = query if query.isdigit() or not found else next(iter(found))
        rows = await self.service.command_data.history(user_id, Scope.everything())
        self.echo(history_text(rows) if rows else f"No exchanges found for {query}.")

    async def export(self, _argument: str | None = None) -> None:
        result = await self.service.command_data.export(self.export_dir)
        self.echo(f"Exported {result.rows:,} exchanges to {result.files[0]}")

    async def help(self, _argument: str | None = None) -> None:
        self.echo(HELP.format(p=self.prefix))
