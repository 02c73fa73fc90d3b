"""The commands cog: statistics, history, export, forget, opt-out and privacy, each scoped by bot.scope."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

import discord
from discord import app_commands
from discord.ext import commands

from . import replication
from .confirm_view import confirmed
from .export import FORMATS, ExportResult
from .formatting import (EMBED_FIELD_LIMIT, EMBED_TITLE_LIMIT, candidates_text, export_note, history_entry,
                         privacy_sections, stats_lines, too_big_message, truncate, unknown_format_text)
from .help_command import send_help
from .scope import EVERYWHERE, Caller, Refused, Scope, split_everywhere
from .service import BotService
from .settings import Settings
from .slash_options import Everywhere, ExportFormat, UserId, UserQuery

log = logging.getLogger(__name__)

EMBED_COLOUR = discord.Colour.blurple()
INTERACTION_GONE = {  # Discord's error codes for an interaction that can no longer be answered
    10062: "not answered within Discord's 3 seconds (Unknown interaction)",
    50027: "its 15 minutes for follow-ups are over (Invalid Webhook Token)",
}
SHOWN_QUERY_CHARS = 100  # how much of a typed name or id the bot echoes back
ADMIN_ONLY = "Sorry, `{command}` is for admins only (the configured admin ids, or Manage Server permission)."
EXPORT_REFUSED = ADMIN_ONLY.format(command="!export") + " Send it to me in a DM to get your own conversations."
HISTORY_REFUSED = "Sorry, only admins can see another person's history. `!history` shows your own."
FORGET_REFUSED = "Sorry, only admins can forget someone else. `!forget` deletes your own data."


class Conversations(commands.Cog):
    """Look into the conversation log: each command sees the server it is asked in."""

    def __init__(self, bot: commands.Bot, service: BotService, settings: Settings):
        self.bot = bot
        self.service = service
        self.settings = settings

    @commands.hybrid_command()
    @app_commands.describe(where="all: every server's statistics (the bot's owners only)")
    async def stats(self, ctx: commands.Context, where: Everywhere | None = None) -> None:
        """Conversation statistics of this server (in a DM: yours; owners: `all` for every server)."""
        scope = caller(ctx, self.settings.admin_ids).overview(is_everywhere(where))
        figures = await self.service.records.stats(scope)
        embed = discord.Embed(title="Conversation statistics", description=scope.describe(), colour=EMBED_COLOUR)
        for label, value in stats_lines(figures):
            embed.add_field(name=label, value=truncate(value, EMBED_FIELD_LIMIT), inline=label != "Models")
        if self.settings.replica and caller(ctx, self.settings.admin_ids).is_owner:  # the deployment's own
            line = await asyncio.to_thread(replication.status_line, self.settings)
            embed.add_field(name="Replica", value=truncate(line, EMBED_FIELD_LIMIT), inline=False)
        await ctx.send(embed=embed)

    @commands.hybrid_command()
    @app_commands.describe(user="Whose history (admins only, for someone else)",
                           where="all: every server's rows (the bot's owners only)")
    async def history(self, ctx: commands.Context, *, user: UserQuery | None = None,
                      where: Everywhere | None = None) -> None:
        """Your last 10 conversations here; admins: a @mention's, name's or id's (owners: `all` first)."""
        everywhere, query = split_everywhere(user)
        everywhere = everywhere or is_everywhere(where)  # `where` is the / form's; ! takes `all` first
        who = caller(ctx, self.settings.admin_ids)
        target = self_or_other(ctx, query)
        if target == who.user_id:
            scope = who.own(everywhere)
        else:
            scope = who.reach(everywhere, HISTORY_REFUSED)
            if scope.user_id is not None:  # a plain user in a DM reaches only themselves
                raise Refused(HISTORY_REFUSED)
            target = await self._resolve(ctx, query, target, scope)
            if target is None:
                return
        rows = await self.service.records.history(target, scope)
        if not rows:
            await private(ctx, f"No conversations found for {'you' if query is None else shown(query)}.")
            return
        await private(ctx, embed=history_embed(rows, scope))

    async def _resolve(self, ctx: commands.Context, query: str, target: str | None, scope: Scope) -> str | None:
        """A user id for an admin's query: the id given, or the one user of that name in `scope`."""
        if target is not None:
            return target
        found = await self.service.records.find_users(query, scope)
        if len(found) == 1:
            return next(iter(found))
        if not found:
            await private(ctx, f"No conversations found for {shown(query)}.")
        else:
            names = {uid: [shown(n) for n in names] for uid, names in found.items()}
            await private(ctx, candidates_text(shown(query), names, ctx.prefix))
        return None

    @commands.hybrid_command()
    @app_commands.rename(fmt="format")
    @app_commands.describe(fmt="csv (default), jsonl, chat, or a fine-tuning format: openai, bedrock, kto",
                           where="all: every server's rows (the bot's owners only)")
    async def export(self, ctx: commands.Context, fmt: ExportFormat = "csv", where: Everywhere | None = None) -> None:
        """Export conversations: csv (default), jsonl, chat, openai, bedrock or kto. Admins: this server's; in a DM:
        yours."""
        if fmt.lower() == EVERYWHERE:
            fmt, where = "csv", EVERYWHERE
        scope = caller(ctx, self.settings.admin_ids).reach(is_everywhere(where), EXPORT_REFUSED)
        fmt = {"chat": "chat-jsonl"}.get(fmt.lower(), fmt.lower())
        if fmt not in FORMATS:
            await private(ctx, unknown_format_text(ExportFormat.choice_values))
            return
        limit = ctx.guild.filesize_limit if ctx.guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        with tempfile.TemporaryDirectory() as directory:
            async with ctx.typing(ephemeral=True):
                result = await self.service.records.export(Path(directory), limit, self.settings.export_max_parts,
                                                           fmt, scope)
            await self._send_export(ctx, result)

    @commands.hybrid_command()
    @app_commands.rename(user_id="user")
    @app_commands.describe(user_id="Whom to forget (admins only, for someone else)",
                           where="all: every server's rows (the bot's owners only)")
    async def forget(self, ctx: commands.Context, user_id: UserId | None = None,
                     where: Everywhere | None = None) -> None:
        """Delete your conversations and memory, after you confirm (admins: anyone's in this server, by id)."""
        who = caller(ctx, self.settings.admin_ids)
        target = str(user_id or ctx.author.id)
        if target == who.user_id:
            scope = Scope.own(target)  # your own data goes everywhere: it is yours to erase
        else:
            scope = who.reach(is_everywhere(where), FORGET_REFUSED)
            if scope.user_id is not None:
                raise Refused(FORGET_REFUSED)
        count = await self.service.records.count_for_user(target, scope)
        whose = "your" if target == who.user_id else f"user {target}'s"
        place = "" if target == who.user_id or scope.is_everything else " in this server"
        question = f"This permanently deletes {whose} {count:,} logged conversations{place} and short-term memory."
        if not await confirmed(ctx, question, self.settings.confirm_seconds):
            await private(ctx, "Not confirmed in time: nothing was deleted.")
            return
        done = await self.service.records.forget(target, scope)
        await private(ctx, f"Done: deleted {done.conversations:,} conversations "
                           f"and {done.memory_turns:,} memory entries.")

    @commands.hybrid_command()
    async def optout(self, ctx: commands.Context) -> None:
        """Stop logging your messages; the bot still answers you. `!optin` undoes it."""
        await self.service.records.set_opted_out(str(ctx.author.id), True)
        await private(ctx, "You're opted out: from now on nothing you say is logged or remembered. "
                           "Your earlier conversations stay until you use `!forget`.")

    @commands.hybrid_command()
    async def optin(self, ctx: commands.Context) -> None:
        """Let the bot log and remember your conversations again."""
        await self.service.records.set_opted_out(str(ctx.author.id), False)
        await private(ctx, "You're opted in: your conversations are logged again.")

    @commands.hybrid_command()
    async def privacy(self, ctx: commands.Context) -> None:
        """What the bot stores about you, for how long, who can see it, and how to be forgotten."""
        embed = discord.Embed(title="Privacy", url=self.settings.privacy_url, colour=EMBED_COLOUR)
        for title, text in privacy_sections(self.settings.retention_days, self.settings.redact,
                                            self.settings.memory_ttl_minutes):
            embed.add_field(name=title, value=text, inline=False)
        await private(ctx, embed=embed)

    @commands.hybrid_command(name="help")
    @app_commands.describe(command="A command to explain")
    async def help_(self, ctx: commands.Context, command: str | None = None) -> None:
        """Shows this message"""
        await send_help(ctx, command)

    async def _send_export(self, ctx: commands.Context, result: ExportResult) -> None:
        if result.too_big:
            await private(ctx, too_big_message(result, self.settings.datasette_url))
            return
        for number, path in enumerate(result.files, 1):
            note = export_note(result, path, number)
            await private(ctx, note, file=discord.File(path, filename=path.name))

    async def cog_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        refused = root_cause(error)
        if isinstance(refused, Refused):
            await private(ctx, str(refused))
            return
        if isinstance(refused, discord.HTTPException) and refused.code in INTERACTION_GONE:
            log.warning("/%s could not be answered: %s", ctx.command, INTERACTION_GONE[refused.code])
            return  # the interaction is gone: there is no one left to tell
        log.error("command %s failed", ctx.command, exc_info=error)
        await private(ctx, "Sorry, that command failed. The details are in the bot's log.")


def caller(ctx: commands.Context, owner_ids: frozenset[int]) -> Caller:
    """Who asked, where, and with which rights; Manage Server counts in the server asked in only."""
    in_server = ctx.guild is not None
    return Caller(user_id=str(ctx.author.id), guild_id=str(ctx.guild.id) if in_server else None,
                  manages_server=in_server and ctx.author.guild_permissions.manage_guild,
                  is_owner=ctx.author.id in owner_ids)


async def private(ctx: commands.Context, *args, **kwargs) -> discord.Message:
    """Answer only the caller as a slash command (ephemeral); a `!` command answers in the channel as before."""
    return await ctx.send(*args, ephemeral=True, **kwargs)


def root_cause(error: BaseException) -> BaseException:
    """The exception a command raised, under the wrappers of the `!` form (one) or the `/` form (two)."""
    while getattr(error, "original", None) is not None:
        error = error.original
    return error


def self_or_other(ctx: commands.Context, query: str | None) -> str | None:
    """The user id a history query names: the caller's own for none, their id or their username
    (unique on Discord, unlike display names and nicknames), a mention's or an id's; None for a name."""
    author = ctx.author
    if query is None or query == str(author.id) or query.lstrip("@").lower() == author.name.lower():
        return str(author.id)
    mentioned = [user for user in ctx.message.mentions if user != ctx.me]
    if mentioned and query.startswith("<@"):
        return str(mentioned[0].id)
    return query if query.isdigit() else None


def is_everywhere(word: str | None) -> bool:
    return (word or "").lower() == EVERYWHERE


def shown(text: str) -> str:
    """User-typed or user-chosen text, safe to show: no markdown, no mentions, not too long."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(truncate(text, SHOWN_QUERY_CHARS)))


def history_embed(rows: list[dict], scope: Scope) -> discord.Embed:
    label = rows[0]["display_name"] or rows[0]["user_name"]
    embed = discord.Embed(title=truncate(f"Last {len(rows)} conversations of {label}", EMBED_TITLE_LIMIT),
                          description=scope.describe(), colour=EMBED_COLOUR)
    for row in rows:
        heading, body = history_entry(row)
        embed.add_field(name=heading, value=body, inline=False)
    return embed
