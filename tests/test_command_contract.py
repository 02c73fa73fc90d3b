"""Our own slash command definitions against Discord's spec, at unit-test time: the tree as it will be
registered (`to_dict()` of every app command) must validate against the bulk overwrite's request schema,
or Discord refuses the whole registration (400, 50035) and no slash command exists in production."""

from __future__ import annotations

from bot.core.service import open_service
from bot.discord_front.bot import ConversationBot
from bot.replica.replicator import Unwatched
from tests.support.contracts.discord_rest import field_errors, pointer

BULK_OVERWRITE = pointer(
    "paths", "/applications/{application_id}/commands", "put", "requestBody", "content", "application/json", "schema"
)
DESCRIPTION_LIMIT = 100  # Discord: a command's description is 1-100 characters


async def registered_payload(settings) -> list[dict]:
    """The body `tree.sync()` would PUT: every app command of every cog, as discord.py serialises it."""
    async with open_service(settings) as service:
        bot = ConversationBot(settings, service, replica=Unwatched(settings))
        await bot.add_cogs()
        payload = [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
        await bot.close()
    return payload


async def test_every_command_definition_fits_discords_bulk_overwrite_schema(settings):
    payload = await registered_payload(settings)
    assert {c["name"] for c in payload} >= {"stats", "history", "export", "forget", "help"}
    assert field_errors(BULK_OVERWRITE, payload) == {}


async def test_a_description_of_101_characters_is_refused_naming_the_command_and_field(settings):
    payload = await registered_payload(settings)
    index = next(i for i, c in enumerate(payload) if c["name"] == "export")
    payload[index]["description"] = "x" * (DESCRIPTION_LIMIT + 1)
    payload[index]["options"][0]["description"] = ""
    bad_length = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be between 1 and 100 in length."}]}
    assert field_errors(BULK_OVERWRITE, payload) == {
        str(index): {"description": bad_length, "options": {"0": {"description": bad_length}}}
    }
