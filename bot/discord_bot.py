"""The Discord front end: a Bot that is handed its service, and one thin cog."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

import discord
from discord.ext import commands, tasks

from . import replication
from .export import FORMATS, ExportResult
from .formatting import history_entry, privacy_sections, split_message, stats_lines, truncate
from .service import BotService, Incoming
from .settings import Settings

log = logging.getLogger(__name__)

EMBED_COLOUR = discord.Colour.blurple()
CONFIRM = "✅"
RATINGS = {"👍": 1, "👎": -1}
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
        rate, per = settings.rate_limit
        self.chat_limit = commands.CooldownMapping.from_cooldown(rate, per, commands.BucketType.user) if rate else None
        self.warn_limit = commands.CooldownMapping.from_cooldown(1, per, commands.BucketType.user) if rate else None

    async def cog_load(self) -> None:
        if self.settings.retention_days:
            self.retention.start()

    async def cog_unload(self) -> None:
        self.retention.cancel()

    @tasks.loop(hours=1)
    async def retention(self) -> None:
        await self.service.sweep_retention()

    # -- chat -------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or not self._addressed(message):
            return
        if (await self.bot.get_context(message)).valid:
            return  # a command, handled by the command framework and never logged
        if await self._over_rate_limit(message):
            return
        typing = asyncio.create_task(keep_typing(message.channel))
        try:
            reply = await self.service.chat(incoming(message, self._without_mention(message.content)))
        finally:
            typing.cancel()
        if reply is None:
            return
        sent = await send_reply(message, reply.text)
        if sent is not None and reply.model:
            await self.service.record_reply(str(message.id), str(sent.id))

    async def _over_rate_limit(self, message: discord.Message) -> bool:
        """Per-user limit; the warning itself is sent at most once a window, so spam stays quiet."""
        if self.chat_limit is None:
            return False
        retry_after = self.chat_limit.update_rate_limit(message)
        if retry_after and not self.warn_limit.update_rate_limit(message):
            await send_reply(message, f"You're sending messages faster than I can answer. "
                                      f"Try again in {retry_after:.0f} seconds.")
        return bool(retry_after)

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
        if self.settings.replica and is_admin(ctx, self.settings.admin_ids):  # replica URLs are for admins
            line = await asyncio.to_thread(replication.status_line, self.settings)
            embed.add_field(name="Replica", value=truncate(line, 1024), inline=False)
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
    async def export(self, ctx: commands.Context, fmt: str = "csv") -> None:
        """Export every conversation as an attachment: csv (default), jsonl, or chat (admins only)."""
        fmt = {"chat": "chat-jsonl"}.get(fmt.lower(), fmt.lower())
        if fmt not in FORMATS:
            await ctx.send("Unknown format: use `csv`, `jsonl` or `chat`.")
            return
        limit = ctx.guild.filesize_limit if ctx.guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        with tempfile.TemporaryDirectory() as directory:
            async with ctx.typing():
                result = await self.service.export(Path(directory), limit, self.settings.export_max_parts, fmt)
            await self._send_export(ctx, result)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        await self._rating(event, removed=False)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        await self._rating(event, removed=True)

    async def _rating(self, event: discord.RawReactionActionEvent, *, removed: bool) -> None:
        value = RATINGS.get(str(event.emoji))
        if value is not None and event.user_id != self.bot.user.id:
            await self.service.rate(str(event.message_id), str(event.user_id), value, removed=removed)

    @commands.command()
    async def forget(self, ctx: commands.Context, user_id: int | None = None) -> None:
        """Delete your conversations from the log and the memory, after you confirm (admins: anyone's, by id)."""
        target = str(user_id or ctx.author.id)
        if target != str(ctx.author.id) and not is_admin(ctx, self.settings.admin_ids):
            await ctx.send("Sorry, only admins can forget someone else. `!forget` deletes your own data.")
            return
        count = await self.service.count_for_user(target)
        who = "your" if target == str(ctx.author.id) else f"user {target}'s"
        question = (f"This permanently deletes {who} {count:,} logged conversations and short-term memory. "
                    f"React with {CONFIRM} within {self.settings.confirm_seconds:g} seconds to confirm.")
        if not await confirmed(ctx, question, self.settings.confirm_seconds):
            await ctx.send("Not confirmed in time: nothing was deleted.")
            return
        done = await self.service.forget(target)
        await ctx.send(f"Done: deleted {done.conversations:,} conversations and {done.memory_turns:,} memory entries.")

    @commands.command()
    async def optout(self, ctx: commands.Context) -> None:
        """Stop logging your messages; the bot still answers you. `!optin` undoes it."""
        await self.service.set_opted_out(str(ctx.author.id), True)
        await ctx.send("You're opted out: from now on nothing you say is logged or remembered. "
                       "Your earlier conversations stay until you use `!forget`.")

    @commands.command()
    async def optin(self, ctx: commands.Context) -> None:
        """Let the bot log and remember your conversations again."""
        await self.service.set_opted_out(str(ctx.author.id), False)
        await ctx.send("You're opted in: your conversations are logged again.")

    @commands.command()
    async def privacy(self, ctx: commands.Context) -> None:
        """What the bot stores about you, for how long, who can see it, and how to be forgotten."""
        embed = discord.Embed(title="Privacy", url=self.settings.privacy_url, colour=EMBED_COLOUR)
        for title, text in privacy_sections(self.settings.retention_days, self.settings.redact):
            embed.add_field(name=title, value=text, inline=False)
        await ctx.send(embed=embed)

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


async def confirmed(ctx: commands.Context, question: str, timeout: float) -> bool:
    """Ask, and wait for the author's reaction on the question (raw events: no cache needed)."""
    prompt = await ctx.send(question)
    await prompt.add_reaction(CONFIRM)

    def by_author(event: discord.RawReactionActionEvent) -> bool:
        return event.message_id == prompt.id and event.user_id == ctx.author.id and str(event.emoji) == CONFIRM

    try:
        await ctx.bot.wait_for("raw_reaction_add", check=by_author, timeout=timeout)
    except asyncio.TimeoutError:
        return False
    return True


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


async def send_reply(message: discord.Message, text: str) -> discord.Message | None:
    """Send every chunk; returns the first. A refused send is logged (the exchange is already in the log)."""
    first = None
    try:
        for chunk in split_message(text):
            if first is None:
                first = await message.reply(chunk, mention_author=False)
            else:
                await message.channel.send(chunk)
    except discord.HTTPException as err:
        log.warning("reply to message %s not delivered: %s", message.id, err)
    return first


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
    return f"Part {number} of {len(result.files)} of {result.rows:,} conversations (gzip; each part stands alone)."


def too_big_message(result: ExportResult, datasette_url: str | None) -> str:
    where = (
        f"Download it from Datasette instead: {datasette_url}{DATASETTE_CSV_PATH}"
        if datasette_url
        else f"Download it from the bot's Datasette instead, at `{DATASETTE_CSV_PATH}`."
    )
    return f"The export of {result.rows:,} conversations is too big for Discord, even compressed. {where}"
