"""The chat cog: answers messages addressed to the bot through Claude, and takes 👍/👎 ratings."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from bot.config.settings import Settings
from bot.core.attachments import Attachment, byte_limit
from bot.core.download import download
from bot.core.formatting import split_message
from bot.core.service import BotService, Incoming, Redelivery
from bot.discord_front.live_reply import LiveReply, reply_or_post

log = logging.getLogger(__name__)

RATINGS = {"👍": 1, "👎": -1}
TYPING_REFRESH_S = 8  # Discord drops a typing indicator after about 10 seconds
UNREADABLE_REPLY = (
    "I can't read a reply that doesn't ping me here (Discord withholds its text): "
    "reply with the @ switched on, or mention me."
)


class Chat(commands.Cog):
    """Chat with Claude; every exchange is logged before the reply is sent."""

    def __init__(self, bot: commands.Bot, service: BotService, settings: Settings):
        self.bot = bot
        self.service = service
        self.settings = settings
        rate, per = settings.rate_limit
        self.chat_limit = commands.CooldownMapping.from_cooldown(rate, per, commands.BucketType.user) if rate else None
        self.warn_limit = commands.CooldownMapping.from_cooldown(1, per, commands.BucketType.user) if rate else None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or not self._addressed(message):
            return
        if (await self.bot.get_context(message)).valid:
            return  # a command, handled by the command framework and never logged
        if await self._over_rate_limit(message):
            return
        if self._withheld(message):
            await send_reply(message, UNREADABLE_REPLY)  # not Claude's, not logged: there is no text to answer
            return
        typing = asyncio.create_task(keep_typing(message.channel))
        live = LiveReply(message)
        try:
            text = self._without_mention(message.content)
            reply = await self.service.chat(incoming(message, text, self.settings.cdn_origins), live.update)
        except BaseException:
            await live.stop()  # no interim edit outlives a failed exchange
            raise
        finally:
            typing.cancel()
        if isinstance(reply, Redelivery):
            await live.stop()
            return
        sent = await live.finish(reply.text)  # the row is committed: now the last edit
        if sent is not None and reply.logged:
            await self.service.record_reply(str(message.id), str(sent.id))

    async def _over_rate_limit(self, message: discord.Message) -> bool:
        """Per-user limit; the warning itself is sent at most once a window, so spam stays quiet."""
        if self.chat_limit is None or self.warn_limit is None:  # both, or neither: BOT_RATE_LIMIT
            return False
        retry_after = self.chat_limit.update_rate_limit(message)
        if retry_after and not self.warn_limit.update_rate_limit(message):
            await send_reply(
                message, f"You're sending messages faster than I can answer. Try again in {retry_after:.0f} seconds."
            )
        return bool(retry_after)

    def _addressed(self, message: discord.Message) -> bool:
        # A reply to the bot pings it by default; one with the ping turned off is addressed to it too.
        replied = message.reference.resolved if message.reference is not None else None
        return (
            message.guild is None
            or self.bot.user in message.mentions
            or (isinstance(replied, discord.Message) and replied.author == self.bot.user)
            # Without the Message Content intent a chat channel's text arrives empty: only mentions count.
            or (message.channel.id in self.settings.chat_channel_ids and self.bot.intents.message_content)
        )

    def _withheld(self, message: discord.Message) -> bool:
        """Without the Message Content intent, Discord blanks a server message that does not mention the
        bot: a reply to it with the ping switched off arrives with no text, embeds or attachments."""
        return (
            not self.bot.intents.message_content and message.guild is not None and self.bot.user not in message.mentions
        )

    def _without_mention(self, content: str) -> str:
        for form in (f"<@{self._me.id}>", f"<@!{self._me.id}>"):
            content = content.replace(form, "")
        return content.strip()

    @property
    def _me(self) -> discord.ClientUser:
        """The bot's own user: set at login, before any message or reaction reaches a cog."""
        if self.bot.user is None:
            raise RuntimeError("the bot is not logged in")
        return self.bot.user

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        await self._rating(event, removed=False)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        await self._rating(event, removed=True)

    async def _rating(self, event: discord.RawReactionActionEvent, *, removed: bool) -> None:
        value = RATINGS.get(str(event.emoji))
        if value is not None and event.user_id != self._me.id:
            await self.service.rate(str(event.message_id), str(event.user_id), value, removed=removed)


def incoming(message: discord.Message, text: str, cdn_origins: frozenset[str]) -> Incoming:
    thread = message.channel if isinstance(message.channel, discord.Thread) else None
    return Incoming(
        user_id=str(message.author.id),
        user_name=message.author.name,
        channel_id=str(message.channel.id),
        text=text,
        message_id=str(message.id),
        guild_id=str(message.guild.id) if message.guild else None,
        display_name=message.author.display_name,
        reply_to=replied_id(message),
        thread_id=str(thread.id) if thread else None,
        thread_parent_id=str(thread.parent_id) if thread else None,
        attachments=tuple(attachment(item, cdn_origins) for item in message.attachments),
    )


def replied_id(message: discord.Message) -> str | None:
    """The message this one replies to: a reply's reference, in this channel (or, in a thread, its
    parent). A forward's reference (type 1) points at what was forwarded, often elsewhere: no reply."""
    reference = message.reference
    if reference is None or reference.message_id is None or reference.type != discord.MessageReferenceType.default:
        return None
    here = {message.channel.id}
    if isinstance(message.channel, discord.Thread):
        here.add(message.channel.parent_id)
    return str(reference.message_id) if reference.channel_id in here else None


def attachment(item: discord.Attachment, cdn_origins: frozenset[str]) -> Attachment:
    """Not discord.py's `item.read()`: it follows redirects anywhere and reads whatever size comes."""
    limit = byte_limit(item.content_type)

    async def fetch() -> bytes:
        return await download(item.url, cdn_origins, limit)

    return Attachment(item.filename, item.content_type, item.size, item.url, fetch, item.width, item.height)


async def keep_typing(channel: discord.abc.Messageable) -> None:
    """Show "typing…" until cancelled, beside the Claude call rather than before it.

    Not discord.py's `async with channel.typing()`: its entry awaits the first indicator, which
    puts a round trip to Discord before every answer, and raises when the channel refuses it
    (403), which would cost the user their answer. Here a refusal just ends the indicator.
    """
    while True:
        try:
            await channel.typing()
        except discord.HTTPException as err:
            log.debug("typing indicator refused: %s", err)
            return
        await asyncio.sleep(TYPING_REFRESH_S)


async def send_reply(message: discord.Message, text: str) -> discord.Message | None:
    """Send every chunk; returns the first. A refused send is logged (the exchange is already in the log)."""
    first = None
    try:
        for chunk in split_message(text):
            if first is None:
                first = await reply_or_post(message, chunk)  # the one ping: the asker
            else:
                await message.channel.send(chunk)
    except discord.HTTPException as err:
        log.warning("reply to message %s not delivered: %s", message.id, err)
    return first
