"""What every command cog shares: who asked and with which rights, private answers, and one line for
a refusal, a lost interaction or a failure."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord.ext import commands

from bot.config.settings import Settings
from bot.core.access import Caller, Refused
from bot.core.formatting import truncate
from bot.core.service import BotService

log = logging.getLogger(__name__)

EMBED_COLOUR = discord.Colour.blurple()
INTERACTION_GONE = {  # Discord's error codes for an interaction that can no longer be answered
    10062: "not answered within Discord's 3 seconds (Unknown interaction)",
    50027: "its 15 minutes for follow-ups are over (Invalid Webhook Token)",
}
SHOWN_QUERY_CHARS = 100  # how much of a typed name or id the bot echoes back


CommandMethod = Callable[..., Coroutine[Any, Any, None]]


def hybrid_command(**attrs: Any) -> Callable[[CommandMethod], commands.HybridCommand[Any, ..., None]]:
    """commands.hybrid_command, typed so that mypy accepts a cog's method: discord.py types the callback as
    a union of two shapes (with and without the cog), which mypy solves to Never for every method."""
    return commands.hybrid_command(**attrs)


class ScopedCog(commands.Cog):
    """A cog of commands over the service: refusals answer the caller privately, failures in one line."""

    def __init__(self, bot: commands.Bot, service: BotService, settings: Settings):
        self.bot = bot
        self.service = service
        self.settings = settings

    def caller(self, ctx: commands.Context[Any]) -> Caller:
        """Who asked, where, and with which rights; Manage Server counts in the server asked in only."""
        member = ctx.author if isinstance(ctx.author, discord.Member) else None  # a Member in a server only
        return Caller(
            user_id=str(ctx.author.id),
            guild_id=str(ctx.guild.id) if ctx.guild is not None else None,
            manages_server=ctx.guild is not None and member is not None and member.guild_permissions.manage_guild,
            is_owner=ctx.author.id in self.settings.owner_ids,
        )

    async def cog_command_error(self, ctx: commands.Context[Any], error: Exception) -> None:
        refused = root_cause(error)
        if isinstance(refused, Refused):
            await private(ctx, str(refused))
            return
        if isinstance(refused, discord.HTTPException) and refused.code in INTERACTION_GONE:
            log.warning("/%s could not be answered: %s", ctx.command, INTERACTION_GONE[refused.code])
            return  # the interaction is gone: there is no one left to tell
        log.error("command %s failed", ctx.command, exc_info=error)
        await private(ctx, "Sorry, that command failed. The details are in the bot's log.")


async def private(ctx: commands.Context[Any], *args: Any, **kwargs: Any) -> discord.Message:
    """Answer only the caller as a slash command (ephemeral); a `!` command answers in the channel as before."""
    return await ctx.send(*args, ephemeral=True, **kwargs)


def root_cause(error: BaseException) -> BaseException:
    """The exception a command raised, under the wrappers of the `!` form (one) or the `/` form (two)."""
    while (original := getattr(error, "original", None)) is not None:
        error = original
    return error


def shown(text: str) -> str:
    """User-typed or user-chosen text, safe to show: no markdown, no mentions, not too long."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(truncate(text, SHOWN_QUERY_CHARS)))
