"""The Discord front end: a Bot that is handed its service, and its two thin cogs."""

from __future__ import annotations

import discord
from discord.ext import commands

from .chat_cog import Chat
from .commands_cog import Conversations
from .service import BotService
from .settings import Settings


class ConversationBot(commands.Bot):
    def __init__(self, settings: Settings, service: BotService, **options):
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the developer portal too
        super().__init__(
            command_prefix=settings.command_prefix,
            intents=intents,
            # Claude's text can hold any mention ("reply only with <@id>"): only the asker is pinged,
            # by the reply itself; @everyone, roles and other users stay silent.
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings = settings
        self.service = service

    async def setup_hook(self) -> None:
        await self.add_cog(Chat(self, self.service, self.settings))
        await self.add_cog(Conversations(self, self.service, self.settings))
