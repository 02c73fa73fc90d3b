"""Slash command registration: a bulk overwrite only when the definitions changed; one server for testing;
and the interaction windows Discord enforces (3 seconds to answer, 15 minutes of follow-ups)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from discord import app_commands

from bot.core.service import open_service
from bot.discord_front.bot import ConversationBot
from bot.replica.replicator import Unwatched
from tests.support.harness import chat, start_and_stop


class BotWithOneMore(ConversationBot):
    """The bot after a release that added a command."""

    async def setup_hook(self) -> None:
        @app_commands.command(name="ping", description="One more command")
        async def ping(interaction):
            await interaction.response.send_message("pong")

        self.tree.add_command(ping)
        await super().setup_hook()


async def test_commands_are_registered_only_when_their_definitions_change(settings, discord_server, caplog):
    commands = discord_server.interactions.commands
    await start_and_stop(settings)
    assert commands.sync_calls == [None] and settings.command_hash_file.exists()
    with caplog.at_level(logging.INFO, logger="bot.discord_front.sync"):
        await start_and_stop(settings)
    assert commands.sync_calls == [None]  # same definitions: no PUT spent on the rate limit
    assert any("unchanged since the last sync" in r.getMessage() for r in caplog.records)

    await start_and_stop(settings, BotWithOneMore)
    assert commands.sync_calls == [None, None] and "ping" in commands.registered[None]
    await start_and_stop(settings)  # and back: "ping" is removed again
    assert commands.sync_calls == [None, None, None] and "ping" not in commands.registered[None]

    settings.command_hash_file.write_text("{not json")  # damaged: registers again, and repairs it
    await start_and_stop(settings)
    await start_and_stop(settings)
    assert len(commands.sync_calls) == 4


async def test_one_test_server_gets_the_commands_instantly(settings, discord_server, members):
    guild = discord_server.guilds[0]
    settings = replace(settings, command_guild_id=int(guild.id))
    async with open_service(settings) as service:
        bot = ConversationBot(settings, service, replica=Unwatched(settings), guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(settings.discord_token))
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        try:
            assert discord_server.interactions.commands.sync_calls == [guild.id]
            assert None not in discord_server.interactions.commands.registered
            stats = await discord_server.user_slash(members[1], "stats", guild=guild)
            assert stats.messages[0].embeds[0]["title"] == "Conversation statistics"
        finally:
            await bot.close()
            await task


async def test_a_refused_registration_does_not_stop_the_bot_and_is_retried(settings, discord_server, caplog):
    guild = discord_server.guilds[0]
    settings = replace(settings, command_guild_id=int(guild.id))
    commands = discord_server.interactions.commands
    commands.missing_access.add(guild.id)  # invited without applications.commands
    with caplog.at_level(logging.ERROR, logger="bot.discord_front.sync"):
        await start_and_stop(settings)  # starts, answers nothing as /, and says why
    assert any(
        "slash commands not registered" in r.getMessage() and "Missing Access" in r.getMessage() for r in caplog.records
    )
    commands.missing_access.clear()  # re-invited with the scope
    await start_and_stop(settings)
    assert commands.sync_calls == [guild.id, guild.id] and "stats" in commands.registered[guild.id]


async def test_an_answer_after_three_seconds_is_refused_as_discord_does(harness, caplog):
    harness.discord.interactions.window_s = 0.0  # as if the bot had taken longer than 3 seconds
    interaction = await harness.discord.interactions.user_slash(harness.alice, "privacy", replies=0)
    for _ in range(100):
        if any("could not be answered" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    assert [r.getMessage() for r in caplog.records if r.name == "bot.discord_front.rules"] == [
        "/privacy could not be answered: not answered within Discord's 3 seconds (Unknown interaction)"
    ]
    assert harness.discord.interactions.late_callbacks >= 1  # 404, code 10062 Unknown interaction
    assert interaction.callback_type is None and interaction.messages == []
    assert harness.discord.sent == []  # nor does the bot fall back to posting in the channel


async def test_follow_ups_end_with_the_token_after_fifteen_minutes(harness, caplog):
    await chat(harness, harness.alice, "exported")
    harness.discord.interactions.token_lifetime_s = 0.0  # as if the export had taken 15 minutes
    interaction = await harness.discord.interactions.user_slash(harness.admin, "export", replies=0)
    for _ in range(100):
        if any("could not be answered" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    assert interaction.callback_type == 5 and interaction.original.loading  # deferred in time, then nothing
    assert [r.getMessage() for r in caplog.records if r.name == "bot.discord_front.rules"] == [
        "/export could not be answered: its 15 minutes for follow-ups are over (Invalid Webhook Token)"
    ]


class BotWithATooLongDescription(ConversationBot):
    """A release whose new command's description is one character over Discord's 100."""

    async def setup_hook(self) -> None:
        @app_commands.command(name="ping", description="x" * 101)
        async def ping(interaction):
            await interaction.response.send_message("pong")

        self.tree.add_command(ping)
        await super().setup_hook()


async def test_a_registration_discord_refuses_is_one_line_naming_the_field_and_the_bot_runs_on(
    settings, discord_server, caplog
):
    with caplog.at_level(logging.ERROR, logger="bot.discord_front.sync"):
        await start_and_stop(settings, BotWithATooLongDescription)  # became ready: it runs, with its ! commands
    [record] = [r for r in caplog.records if r.name == "bot.discord_front.sync"]
    assert "\n" not in record.getMessage()
    assert record.getMessage().endswith("400 50035: /ping description: Must be between 1 and 100 in length.")
    assert discord_server.interactions.commands.registered == {}  # refused whole: not even the valid ones
