"""`help` for both forms: discord.py's default help text, sent through the command's context."""

from __future__ import annotations

from discord.ext import commands


class ContextHelp(commands.DefaultHelpCommand):
    """The default help, answering through the context: in the channel for `!help`, as the
    interaction's reply for `/help` (the default sends to the channel, leaving the interaction unanswered)."""

    def get_destination(self) -> commands.Context:
        return self.context


async def send_help(ctx: commands.Context, command: str | None) -> None:
    helper = ContextHelp()
    helper.context = ctx
    await helper.command_callback(ctx, command=command)
