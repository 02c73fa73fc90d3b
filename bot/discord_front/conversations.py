"""The conversations cog: statistics, history and export, each scoped by bot.store.scope."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config.settings import Settings
from bot.core.access import EVERYWHERE, Caller, is_everywhere, split_everywhere
from bot.core.export_formats import FORMATS
from bot.core.formatting import (
    EMBED_FIELD_LIMIT,
    EMBED_TITLE_LIMIT,
    candidates_text,
    export_note,
    history_entry,
    stats_lines,
    too_big_message,
    truncate,
    unknown_format_text,
)
from bot.core.service import BotService
from bot.discord_front.options import ExportFormat, FormatName, UserText, Where
from bot.discord_front.rules import EMBED_COLOUR, ScopedCog, hybrid_command, private, shown
from bot.exports.files import ExportResult
from bot.replica.replicator import ReplicaWatch
from bot.store.scope import Scope

log = logging.getLogger(__name__)

OWNERS_AND_SERVER_ADMINS = (
    "Sorry, `{command}` is only for the bot's owners (BOT_ADMIN_IDS) and server admins (Manage Server)."
)
EXPORT_REFUSED = (
    OWNERS_AND_SERVER_ADMINS.format(command="!export") + " Send it to me in a DM to get your own exchanges."
)
HISTORY_REFUSED = (
    "Sorry, only the bot's owners and server admins (Manage Server) can see another person's history. "
    "`!history` shows your own."
)
REPLICA = "Replica"
REPLICA_NOT_SENT = (
    "I could not send you the replica's state by DM (are your DMs closed?). "
    "Ask `{prefix}stats` in a DM with me, or use `/stats` here."
)


class Conversations(ScopedCog):
    """Look into the conversation log: each command sees the server it is asked in."""

    def __init__(self, bot: commands.Bot, service: BotService, settings: Settings, replica: ReplicaWatch):
        super().__init__(bot, service, settings)
        self.replica = replica

    @hybrid_command()
    @app_commands.describe(where="all: every server's statistics (the bot's owners only)")
    async def stats(self, ctx: commands.Context[Any], where: Where | None = None) -> None:
        """Conversation statistics of this server (in a DM: yours; owners: `all` for every server)."""
        who = self.caller(ctx)
        scope = who.overview(is_everywhere(where))
        figures = await self.service.command_data.stats(scope)
        embed = discord.Embed(title="Conversation statistics", description=scope.describe(), colour=EMBED_COLOUR)
        for label, value in stats_lines(figures):
            embed.add_field(name=label, value=truncate(value, EMBED_FIELD_LIMIT), inline=label != "Models")
        replica = self._replica_line(who)
        if replica is not None and ctx.guild is None:  # a DM is private already
            embed.add_field(name=REPLICA, value=replica, inline=False)
        await ctx.send(embed=embed)
        if replica is not None and ctx.guild is not None:
            await self._tell_owner(ctx, replica)

    def _replica_line(self, who: Caller) -> str | None:
        """The replica's URL and state: the deployment's own, for its owners only; None for anyone else."""
        if not (self.settings.replica and who.is_owner):
            return None
        return truncate(self.replica.status().line, EMBED_FIELD_LIMIT)

    async def _tell_owner(self, ctx: commands.Context[Any], replica: str) -> None:
        """The replica line, asked in a server channel: never to everyone there. /stats adds it as an
        ephemeral follow-up; !stats sends it by DM, or says it could not (the owner's DMs are closed)."""
        embed = discord.Embed(title=REPLICA, description=replica, colour=EMBED_COLOUR)
        if ctx.interaction is not None:
            await private(ctx, embed=embed)
            return
        try:
            await ctx.author.send(embed=embed)
        except discord.HTTPException as err:
            log.warning("could not DM the replica's state to owner %s: %s", ctx.author.id, err)
            await ctx.send(REPLICA_NOT_SENT.format(prefix=ctx.prefix))

    @hybrid_command()
    @app_commands.describe(
        user="Whose history (owners and server admins only, for someone else)",
        where="all: every server's rows (the bot's owners only)",
    )
    async def history(
        self, ctx: commands.Context[Any], *, user: UserText | None = None, where: Where | None = None
    ) -> None:
        """Your last 10 exchanges here; server admins: a @mention's, name's or id's (owners: `all` first)."""
        everywhere, query = split_everywhere(user)
        everywhere = everywhere or is_everywhere(where)  # `where` is the / form's; ! takes `all` first
        who = self.caller(ctx)
        target = self_or_other(ctx, query)
        scope = who.to_read(target, everywhere, HISTORY_REFUSED)
        if target != who.user_id:
            target = await self._resolve(ctx, query, target, scope)
            if target is None:
                return
        rows = await self.service.command_data.history(target, scope)
        if not rows:
            await private(ctx, f"No exchanges found for {'you' if query is None else shown(query)}.")
            return
        await private(ctx, embed=history_embed(rows, scope))

    async def _resolve(
        self, ctx: commands.Context[Any], query: str | None, target: str | None, scope: Scope
    ) -> str | None:
        """A user id for a server admin's or owner's query: the id given, or the one user of that name in `scope`."""
        if target is not None or query is None:  # no query names the caller, whose id self_or_other gave
            return target
        found = await self.service.command_data.find_users(query, scope)
        if len(found) == 1:
            return next(iter(found))
        if not found:
            await private(ctx, f"No exchanges found for {shown(query)}.")
        else:
            names = {uid: [shown(n) for n in names] for uid, names in found.items()}
            await private(ctx, candidates_text(shown(query), names, ctx.prefix or self.settings.command_prefix))
        return None

    @hybrid_command()
    @app_commands.rename(fmt="format")
    @app_commands.describe(
        fmt="csv (default), jsonl, chat, a fine-tuning format (openai, bedrock, kto), or requests",
        where="all: every server's rows (the bot's owners only)",
    )
    async def export(self, ctx: commands.Context[Any], fmt: FormatName = "csv", where: Where | None = None) -> None:
        """Export the log (csv, jsonl, chat, openai, bedrock, kto): server admins this server's; a DM: yours."""
        if fmt.lower() == EVERYWHERE:
            fmt, where = "csv", EVERYWHERE
        scope = self.caller(ctx).reach(is_everywhere(where), EXPORT_REFUSED)
        fmt = {"chat": "chat-jsonl"}.get(fmt.lower(), fmt.lower())
        if fmt not in FORMATS:
            await private(ctx, unknown_format_text(ExportFormat.choice_values))
            return
        limit = ctx.guild.filesize_limit if ctx.guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        with tempfile.TemporaryDirectory() as directory:
            async with ctx.typing(ephemeral=True):
                result = await self.service.command_data.export(
                    Path(directory), limit, self.settings.export_max_parts, fmt, scope
                )
            await self._send_export(ctx, result)

    async def _send_export(self, ctx: commands.Context[Any], result: ExportResult) -> None:
        if result.too_big:
            await private(ctx, too_big_message(result, self.settings.datasette_url))
            return
        for number, path in enumerate(result.files, 1):
            note = export_note(result, path, number)
            await private(ctx, note, file=discord.File(path, filename=path.name))


def self_or_other(ctx: commands.Context[Any], query: str | None) -> str | None:
    """The user id a history query names: the caller's own for none, their id or their username
    (unique on Discord, unlike display names and nicknames), a mention's or an id's; None for a name."""
    author = ctx.author
    if query is None or query == str(author.id) or query.lstrip("@").lower() == author.name.lower():
        return str(author.id)
    mentioned = [user for user in ctx.message.mentions if user != ctx.me]
    if mentioned and query.startswith("<@"):
        return str(mentioned[0].id)
    return query if query.isdigit() else None


def history_embed(rows: list[dict[str, Any]], scope: Scope) -> discord.Embed:
    label = rows[0]["display_name"] or rows[0]["user_name"]
    embed = discord.Embed(
        title=truncate(f"Last {len(rows)} exchanges of {label}", EMBED_TITLE_LIMIT),
        description=scope.describe(),
        colour=EMBED_COLOUR,
    )
    for row in rows:
        heading, body = history_entry(row)
        embed.add_field(name=heading, value=body, inline=False)
    return embed
