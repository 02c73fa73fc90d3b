"""The fake's interaction routes as discord.py's own API uses them: GET and DELETE of @original,
and a second answer to one interaction refused (40060) as Discord refuses it."""

from __future__ import annotations

import asyncio

import aiohttp
import discord
from discord import app_commands

from bot.core.service import open_service
from bot.discord_front.bot import ConversationBot
from bot.replica.replicator import Unwatched
from tests.support.harness import start_and_stop


class BotWithProbe(ConversationBot):
    """One extra command that answers, reads its answer back, answers twice, then deletes the answer."""

    async def setup_hook(self) -> None:
        @app_commands.command(name="probe", description="Exercise the interaction routes")
        async def probe(interaction: discord.Interaction):
            await interaction.response.send_message("first", ephemeral=True)
            original = await interaction.original_response()  # GET @original
            try:
                await interaction.response.send_message("twice")  # discord.py refuses before asking Discord
            except discord.InteractionResponded:
                pass
            await interaction.followup.send(f"read back: {original.content}", ephemeral=True)
            await interaction.delete_original_response()  # DELETE @original

        self.tree.add_command(probe)
        await super().setup_hook()


async def test_original_response_can_be_read_and_deleted(settings, discord_server, members):
    async with open_service(settings) as service:
        bot = BotWithProbe(settings, service, replica=Unwatched(settings), guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(settings.discord_token))
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        try:
            interaction = await discord_server.user_slash(members[0], "probe", replies=2)
            for _ in range(100):
                if interaction.original.deleted:
                    break
                await asyncio.sleep(0.02)
        finally:
            await bot.close()
            await task
    first, read_back = interaction.messages
    assert first.content == "first" and first.ephemeral and first.deleted
    assert read_back.content == "read back: first" and read_back.ephemeral


async def test_a_second_callback_is_refused_as_already_acknowledged(discord_server, settings, members):
    await start_and_stop(settings)  # registers the commands
    interactions = discord_server.interactions
    task = asyncio.create_task(interactions.user_slash(members[0], "stats", replies=1))
    await asyncio.sleep(0.3)  # nobody is connected: the interaction stays unanswered
    pending = next(iter(interactions.by_id.values()))
    url = f"{discord_server.api_base}/interactions/{pending.id}/{pending.token}/callback"
    async with aiohttp.ClientSession() as session:
        first = await session.post(url, json={"type": 4, "data": {"content": "one"}})
        second = await session.post(url, json={"type": 4, "data": {"content": "two"}})
        assert first.status == 200 and second.status == 400
        assert (await second.json())["code"] == 40060
    await task
    assert [m.content for m in pending.messages] == ["one"]
