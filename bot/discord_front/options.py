"""Parameters shared by a command's `!` and `/` forms: the `!` form keeps the text as typed, the `/` form
offers Discord's pickers and choices.

Each class is both a `commands.Converter` (the `!` form) and an `app_commands.Transformer` (the `/` form),
so one hybrid command definition serves both and the `!` forms behave exactly as before.
"""

from __future__ import annotations

from typing import Annotated, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.access import EVERYWHERE
from bot.core.export_formats import REQUESTS
from bot.exports.finetune import FINETUNE_FORMATS


class TypedText(commands.Converter[str], app_commands.Transformer):
    """`!`: the word as typed. `/`: a string option, with choices when the subclass names them."""

    choice_values: tuple[str, ...] = ()

    async def convert(self, ctx: commands.Context[Any], argument: str) -> str:
        return argument

    @property
    def choices(self) -> list[app_commands.Choice[int | float | str]] | None:
        return [app_commands.Choice(name=value, value=value) for value in self.choice_values] or None

    async def transform(self, interaction: discord.Interaction, value: Any) -> str:
        return str(value)


class UserQuery(TypedText):
    """`!`: a mention, user name, display name or id as typed. `/`: Discord's user picker, as the id."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.user

    async def transform(self, interaction: discord.Interaction, value: Any) -> str:
        user: discord.abc.User = value  # the user picker's choice
        return str(user.id)


class UserId(UserQuery):
    """`!`: a numeric user id (anything else is left for the next parameter). `/`: the user picker."""

    async def convert(self, ctx: commands.Context[Any], argument: str) -> str:
        if not argument.isdigit():
            raise commands.BadArgument(f"{argument!r} is not a user id")
        return argument


class ExportFormat(TypedText):
    choice_values = ("csv", "jsonl", "chat", *FINETUNE_FORMATS, REQUESTS)


class Everywhere(TypedText):
    """`all`: every server's rows, for the bot's owners."""

    choice_values = (EVERYWHERE,)


# What the commands annotate their parameters with: the converter for discord.py (which reads an Annotated's
# second argument), the text it gives for the type checker.
UserText = Annotated[str, UserQuery]
UserIdText = Annotated[str, UserId]
FormatName = Annotated[str, ExportFormat]
Where = Annotated[str, Everywhere]
