"""The Discord front end: a Bot that is handed its service, and one thin cog."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

import discord
from discord.ext import commands

from .export import ExportResult
from .formatting import history_entry, split_message, stats_lines, truncate
from .service import BotService, Incoming
from .settings import Settings

log = logging.getLogger(__name__)

EMBED_COLOUR = discord.Colour.blurple()
DATASETTE_CSV_PATH = "/conversation_logs/conversations.csv?_stream=on"
ADMIN_ONLY = "Sorry, `{command}` is for admins only (the configured admin ids, or Manage Server permission)."


class ConversationBot(commands.Bot):
    def __init__(self, settings: Settings, service: BotService, **options):
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the developer portal too
        super().__init__(
            command_prefix=settings.command_prefix,
            intents=intents,
            # A reply quoting "@everyone" must not ping anybody.
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=False),
            **options,
        )
        self.settings = settings
        self.service = service

    async def setup_hook(self) -> None:
        await self.add_cog(Conversations(self, self.service, self.settings))


def is_admin(ctx: commands.Context, admin_ids: frozenset[int]) -> bool:
    if ctx.author.id in admin_ids:
        return True
    return ctx.guild is not None and ctx.author.guild_permissions.manage_guild


def admin_only():
    async def predicate(ctx: commands.Context) -> bool:
        return is_admin(ctx, ctx.cog.settings.admin_ids)

    return commands.check(predicate)


class Conversations(commands.Cog):
    """Chat with Claude and look into the conversation log."""

    def __init__(self, bot: ConversationBot, service: BotService, settings: Settings):
        self.bot = bot
        self.service = service
        self.settings = settings

    # -- chat -------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or not self._addressed(message):
            return
        if (await self.bot.get_context(message)).valid:
            return  # a command, handled by the command framework and never logged
        typing = asyncio.create_task(keep_typing(message.channel))
        try:
            reply = await self.service.chat(incoming(message, self._without_mention(message.content)))
        finally:
            typing.cancel()
        await send_reply(message, reply.text)

    def _addressed(self, message: discord.Message) -> bool:
        return (
            message.guild is None
            or self.bot.user in message.mentions
            or message.channel.id in self.settings.chat_channel_ids
        )

    def _without_mention(self, content: str) -> str:
        for form in (f"<@{self.bot.user.id}>", f"<@!{self.bot.user.id}>"):
            content = content.replace(form, "")
        return content.strip()

    # -- commands ---------------------------------------------------------

    @commands.command()
    async def stats(self, ctx: commands.Context) -> None:
        """Show conversation statistics: totals, users, last 24 hours, tokens and models."""
        figures = await self.service.stats()
        embed = discord.Embed(title="Conversation statistics", colour=EMBED_COLOUR)
        for label, value in stats_lines(figures):
            embed.add_field(name=label, value=truncate(value, 1024), inline=label != "Models")
        await ctx.send(embed=embed)

    @commands.command()
    async def history(self, ctx: commands.Context, *, user: str | None = None) -> None:
        """Show the last 10 conversations: yours, or (admins) those of a @mention, name or id."""
        key = resolve_user(ctx, user)
        if not is_self(ctx, key) and not is_admin(ctx, self.settings.admin_ids):
            await ctx.send("Sorry, only admins can see another person's history. `!history` shows your own.")
            return
        rows = await self.service.history(key)
        if not rows:
            who = "you" if user is None else discord.utils.escape_mentions(truncate(user, 100))
            await ctx.send(f"No conversations found for {who}.")
            return
        await ctx.send(embed=history_embed(rows))

    @commands.command()
    @admin_only()
    async def export(self, ctx: commands.Context) -> None:
        """Export every conversation as a CSV attachment (admins only)."""
        limit = ctx.guild.filesize_limit if ctx.guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        with tempfile.TemporaryDirectory() as directory:
            async with ctx.typing():
                result = await self.service.export(Path(directory), limit, self.settings.export_max_parts)
            await self._send_export(ctx, result)

    async def _send_export(self, ctx: commands.Context, result: ExportResult) -> None:
        if result.too_big:
            await ctx.send(too_big_message(result, self.settings.datasette_url))
            return
        for number, path in enumerate(result.files, 1):
            note = export_note(result, path, number)
            await ctx.send(note, file=discord.File(path, filename=path.name))

    async def cog_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        if isinstance(error, commands.CheckFailure):
            await ctx.send(ADMIN_ONLY.format(command=f"{ctx.prefix}{ctx.command}"))
            return
        log.error("command %s failed", ctx.command, exc_info=error)
        await ctx.send("Sorry, that command failed. The details are in the bot's log.")


def incoming(message: discord.Message, text: str) -> Incoming:
    return Incoming(
        user_id=str(message.author.id), user_name=message.author.name, channel_id=str(message.channel.id),
        text=text, message_id=str(message.id), guild_id=str(message.guild.id) if message.guild else None,
        display_name=message.author.display_name,
    )


async def keep_typing(channel: discord.abc.Messageable) -> None:
    """Show "typing…" until cancelled; Discord drops the indicator after about 10 seconds."""
    while True:
        try:
            await channel.typing()
        except discord.HTTPException as err:
            log.debug("typing indicator refused: %s", err)
            return
        await asyncio.sleep(8)


async def send_reply(message: discord.Message, text: str) -> None:
    """Send every chunk; a refused send is logged (the exchange is already in the log)."""
    try:
        for number, chunk in enumerate(split_message(text)):
            if number == 0:
                await message.reply(chunk, mention_author=False)
            else:
                await message.channel.send(chunk)
    except discord.HTTPException as err:
        log.warning("reply to message %s not delivered: %s", message.id, err)


def resolve_user(ctx: commands.Context, query: str | None) -> str:
    """The key to look up: your own id, a mention's id, or the id or name as typed.

    Names are matched against the log (user name or display name), not the member
    cache, which is empty without the privileged members intent.
    """
    if query is None:
        return str(ctx.author.id)
    mentioned = [user for user in ctx.message.mentions if user != ctx.me]
    if mentioned:
        return str(mentioned[0].id)
    return query.strip().lstrip("@")


def is_self(ctx: commands.Context, key: str) -> bool:
    author = ctx.author
    return key == str(author.id) or key.lower() in (author.name.lower(), author.display_name.lower())


def history_embed(rows: list[dict]) -> discord.Embed:
    label = rows[0]["display_name"] or rows[0]["user_name"]
    embed = discord.Embed(title=truncate(f"Last {len(rows)} conversations of {label}", 256), colour=EMBED_COLOUR)
    for row in rows:
        heading, body = history_entry(row)
        embed.add_field(name=heading, value=body, inline=False)
    return embed


def export_note(result: ExportResult, path: Path, number: int) -> str:
    if len(result.files) == 1:
        compressed = " (gzip-compressed to fit Discord's upload limit)" if path.suffix == ".gz" else ""
        return f"{result.rows:,} conversations{compressed}."
    return f"Part {number} of {len(result.files)} of {result.rows:,} conversations (gzip; each part has the header)."


def too_big_message(result: ExportResult, datasette_url: str | None) -> str:
    where = (
        f"Download it from Datasette instead: {datasette_url}{DATASETTE_CSV_PATH}"
        if datasette_url
        else f"Download it from the bot's Datasette instead, at `{DATASETTE_CSV_PATH}`."
    )
    return f"The export of {result.rows:,} conversations is too big for Discord, even compressed. {where}"
