"""The privacy cog: forget (after a confirmation), optout, optin, and what the bot keeps."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.access import is_everywhere
from bot.core.formatting import privacy_sections
from bot.discord_front.confirm import confirmed
from bot.discord_front.options import UserIdText, Where
from bot.discord_front.rules import EMBED_COLOUR, ScopedCog, hybrid_command, private

FORGET_REFUSED = (
    "Sorry, only the bot's owners and server admins (Manage Server) can forget someone else. "
    "`!forget` deletes your own data."
)


class Privacy(ScopedCog):
    """What the bot keeps about you, and how to stop it or erase it."""

    @hybrid_command()
    @app_commands.rename(user_id="user")
    @app_commands.describe(
        user_id="Whom to forget (owners and server admins only, for someone else)",
        where="all: every server's rows (the bot's owners only)",
    )
    async def forget(
        self, ctx: commands.Context[Any], user_id: UserIdText | None = None, where: Where | None = None
    ) -> None:
        """Delete your exchanges and memory, after you confirm (server admins: anyone's in this server, by id)."""
        who = self.caller(ctx)
        target = str(user_id or ctx.author.id)
        scope = who.to_forget(target, is_everywhere(where), FORGET_REFUSED)
        count = await self.service.command_data.count_for_user(target, scope)
        whose = "your" if target == who.user_id else f"user {target}'s"
        place = "" if target == who.user_id or scope.is_everything else " in this server"
        question = f"This permanently deletes {whose} {count:,} logged exchanges{place} and short-term memory."
        if not await confirmed(ctx, question, self.settings.confirm_seconds):
            await private(ctx, "Not confirmed in time: nothing was deleted.")
            return
        done = await self.service.command_data.forget(target, scope)
        await private(ctx, f"Done: deleted {done.exchanges:,} exchanges and {done.memory_turns:,} memory entries.")

    @hybrid_command()
    async def optout(self, ctx: commands.Context[Any]) -> None:
        """Stop logging your messages; the bot still answers you. `!optin` undoes it."""
        await self.service.command_data.set_opted_out(str(ctx.author.id), True)
        await private(
            ctx,
            "You're opted out: from now on nothing you say is logged or remembered. "
            "Your earlier conversations stay until you use `!forget`.",
        )

    @hybrid_command()
    async def optin(self, ctx: commands.Context[Any]) -> None:
        """Let the bot log and remember your conversations again."""
        await self.service.command_data.set_opted_out(str(ctx.author.id), False)
        await private(ctx, "You're opted in: your conversations are logged again.")

    @hybrid_command()
    async def privacy(self, ctx: commands.Context[Any]) -> None:
        """What the bot stores about you, for how long, who can see it, and how to be forgotten."""
        embed = discord.Embed(title="Privacy", url=self.settings.privacy_url, colour=EMBED_COLOUR)
        for title, text in privacy_sections(
            self.settings.retention_days, self.settings.redact, self.settings.memory_ttl_minutes
        ):
            embed.add_field(name=title, value=text, inline=False)
        await private(ctx, embed=embed)
