"""Confirming a destructive command: a button only the caller can press (`/`), or a ✅ reaction (`!`)."""

from __future__ import annotations

from typing import Any

import discord
from discord.ext import commands

CONFIRM = "✅"
NOT_YOURS = "This button is not yours: only the person who asked can confirm."


class ConfirmView(discord.ui.View):
    """One Confirm button; anyone else pressing it gets a private "not yours" and changes nothing."""

    def __init__(self, owner_id: int, timeout: float):
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.confirmed = False

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        return False

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        self.confirmed = True
        await interaction.response.edit_message(view=None)  # the question stays, the button goes
        self.stop()


async def confirmed(ctx: commands.Context[Any], question: str, seconds: float) -> bool:
    """Ask privately and wait up to `seconds` for the caller's yes."""
    if ctx.interaction is None:
        return await confirmed_by_reaction(ctx, question, seconds)
    view = ConfirmView(ctx.author.id, seconds)
    await ctx.send(f"{question} Press **Confirm** within {seconds:g} seconds.", view=view, ephemeral=True)
    await view.wait()
    if not view.confirmed:
        await ctx.interaction.edit_original_response(view=None)  # a stale button would confuse
    return view.confirmed


async def confirmed_by_reaction(ctx: commands.Context[Any], question: str, seconds: float) -> bool:
    """Ask, and wait for the author's reaction on the question (raw events: no cache needed)."""
    prompt = await ctx.send(f"{question} React with {CONFIRM} within {seconds:g} seconds to confirm.")
    await prompt.add_reaction(CONFIRM)

    def by_author(event: discord.RawReactionActionEvent) -> bool:
        return event.message_id == prompt.id and event.user_id == ctx.author.id and str(event.emoji) == CONFIRM

    try:
        await ctx.bot.wait_for("raw_reaction_add", check=by_author, timeout=seconds)
    except TimeoutError:
        return False
    return True
