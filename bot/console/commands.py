"""The console's commands: the Discord commands' work, through the same CommandData paths.

The console user is the bot's operator, so every command reaches every row (Scope.everything()).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config.settings import Settings
from bot.core.access import is_everywhere
from bot.core.export_formats import counted
from bot.core.formatting import candidates_text, history_text, privacy_sections, stats_text
from bot.core.service import BotService
from bot.exports.files import FORMATS
from bot.store.scope import Scope

DEFAULT_FORMAT = "csv"
# The names the Discord commands offer (bot/discord_front/options.py): `chat` for chat-jsonl.
FORMAT_ALIASES = {"chat": "chat-jsonl"}
OFFERED_FORMATS = tuple(next((a for a, f in FORMAT_ALIASES.items() if f == name), name) for name in FORMATS)
CONFIRM_WORDS = frozenset({"yes", "y"})

HELP = """Type a message to chat. Commands:
  {p}stats              conversation statistics
  {p}history [user]     last 10 exchanges (yours, or a user id or name)
  {p}export [format]    write conversation_export_YYYYMMDD_HHMMSS.* here; format: {formats} (default csv)
  {p}forget [user id]   delete your conversations and memory (or that user's), after you confirm
  {p}optout, {p}optin     stop, or start again, logging and remembering what you say
  {p}privacy            what the bot keeps, for how long, and how to be forgotten
  {p}help               this text; Ctrl-D, Ctrl-C or {p}quit leaves (arrow keys edit, Up recalls, Tab completes)"""


@dataclass
class ConsoleCommands:
    """One method per command; each takes the text after the command's name (None when there is none)."""

    service: BotService
    settings: Settings
    echo: Callable[[str], None]
    confirm: Callable[[str], Awaitable[bool]]  # asks a yes/no question on the terminal
    user_name: str = "console"
    export_dir: Path = Path(".")

    @property
    def prefix(self) -> str:
        return self.settings.command_prefix

    def table(self) -> dict[str, Callable[[str | None], Awaitable[None]]]:
        return {
            "stats": self.stats,
            "history": self.history,
            "export": self.export,
            "forget": self.forget,
            "optout": self.optout,
            "optin": self.optin,
            "privacy": self.privacy,
            "help": self.help,
        }

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

    async def export(self, argument: str | None = None) -> None:
        """`all` is accepted as on Discord, where it widens an owner's export; here every row is in already."""
        words = [word for word in (argument or "").split() if not is_everywhere(word)]
        asked = " ".join(words) or DEFAULT_FORMAT
        fmt = FORMAT_ALIASES.get(asked.lower(), asked.lower())
        if fmt not in FORMATS:
            self.echo(f"Unknown format {asked}: use {', '.join(OFFERED_FORMATS[:-1])} or {OFFERED_FORMATS[-1]}.")
            return
        result = await self.service.command_data.export(self.export_dir, fmt=fmt)
        self.echo(f"Exported {counted(fmt, result.rows)} to {result.files[0]}")

    async def forget(self, user_id: str | None = None) -> None:
        target = user_id or self.user_name
        whose = "your" if target == self.user_name else f"user {target}'s"
        count = await self.service.command_data.count_for_user(target)
        question = f"This permanently deletes {whose} {count:,} logged exchanges and short-term memory."
        if not await self.confirm(question):
            self.echo("Not confirmed: nothing was deleted.")
            return
        done = await self.service.command_data.forget(target, Scope.everything())
        self.echo(f"Done: deleted {done.exchanges:,} exchanges and {done.memory_turns:,} memory entries.")

    async def optout(self, _argument: str | None = None) -> None:
        await self.service.command_data.set_opted_out(self.user_name, True)
        self.echo(
            "You're opted out: from now on nothing you say is logged or remembered. "
            f"Your earlier conversations stay until you use {self.prefix}forget."
        )

    async def optin(self, _argument: str | None = None) -> None:
        await self.service.command_data.set_opted_out(self.user_name, False)
        self.echo("You're opted in: your conversations are logged again.")

    async def privacy(self, _argument: str | None = None) -> None:
        settings = self.settings
        sections = privacy_sections(settings.retention_days, settings.redact, settings.memory_ttl_minutes)
        self.echo("\n\n".join(f"{title}\n{text}" for title, text in sections))

    async def help(self, _argument: str | None = None) -> None:
        self.echo(HELP.format(p=self.prefix, formats=", ".join(OFFERED_FORMATS)))
