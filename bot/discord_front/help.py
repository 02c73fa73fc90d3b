"""`help` for both forms: discord.py's default help text, sent through the command's context."""

from __future__ import annotations

from typing import Any

from discord import app_commands
from discord.ext import commands

from bot.discord_front.rules import hybrid_command


class ContextHelp(commands.DefaultHelpCommand):
    """The default help, answering through the context: in the channel for `!help`, as the
    interaction's reply for `/help` (the default sends to the channel, leaving the interaction unanswered)."""

    def get_destination(self) -> commands.Context[Any]:  # type: ignore[override]  # a Messageable too, answering /help
        return self.context


async def send_help(ctx: commands.Context[Any], command: str | None) -> None:
    helper = ContextHelp()
    helper.context = ctx
    await helper.command_callback(ctx, command=command)


class Help(commands.Cog):
    """How to use the bot."""

    @hybrid_command(name="help")
    @app_commands.describe(command="A command to explain")
    async def help_(self, ctx: commands.Context[Any], command: str | None = None) -> None:
        """Shows this message"""
        await send_help(ctx, command)
