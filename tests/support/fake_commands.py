"""The registered application commands of the loopback Discord: bulk overwrites, and the options a
user's slash command carries (a user option as an id, with the user in `resolved`)."""

from __future__ import annotations

from aiohttp import web

from tests.support.fake_discord import FakeGuild, error, json_response, snowflake

USER_OPTION = 6
SLASH_COMMAND = 1  # an application command's type when none is given (CHAT_INPUT)
GUILD_INSTALL = 0  # integration_types when none is given: installed in servers


class FakeCommands:
    def __init__(self, discord):
        self.discord = discord
        self.registered: dict[str | None, dict[str, dict]] = {}  # guild id (None: global) -> name -> command
        self.sync_calls: list[str | None] = []  # one per bulk overwrite, the guild id or None
        self.missing_access: set[str] = set()  # servers the bot joined without the applications.commands scope

    def add_routes(self, app: web.Application, api: str) -> None:
        app.router.add_put(f"{api}/applications/{{app_id}}/commands", self.bulk_overwrite)
        app.router.add_put(f"{api}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self.bulk_overwrite)

    async def bulk_overwrite(self, request: web.Request) -> web.Response:
        """PUT: the given list replaces every command registered in that place."""
        guild_id = request.match_info.get("guild_id")
        self.sync_calls.append(guild_id)
        if guild_id in self.missing_access:
            return error(403, 50001, "Missing Access")
        commands = {}
        for command in await request.json():
            commands[command["name"]] = self._registered(command, guild_id)
        self.registered[guild_id] = commands
        return json_response(list(commands.values()))

    def _registered(self, command: dict, guild_id: str | None) -> dict:
        """A command as Discord answers it (the spec's ApplicationCommandResponse): its ids, and the
        defaults of what was left out or sent as null."""
        sent = {key: value for key, value in command.items() if value is not None}
        permissions = command.get("default_member_permissions")
        return {
            **sent,
            "id": snowflake(),
            "application_id": self.discord.bot_user.id,
            "version": snowflake(),
            "type": command.get("type") or SLASH_COMMAND,
            "description": command.get("description") or "",
            "default_member_permissions": None if permissions is None else str(permissions),
            "integration_types": command.get("integration_types") or [GUILD_INSTALL],
            **({"guild_id": guild_id} if guild_id else {}),
        }

    def command(self, name: str, guild: FakeGuild | None) -> dict:
        """The registered command a user would see in that place: the server's own first, then global."""
        found = (self.registered.get(guild.id, {}) if guild else {}).get(name) or self.registered.get(None, {}).get(
            name
        )
        if found is None:
            raise LookupError(f"/{name} is not registered {'in ' + guild.name if guild else 'globally'}")
        return found

    def data(self, name: str, options: dict, guild: FakeGuild | None) -> dict:
        """An INTERACTION_CREATE's `data` for /name with `options` (a FakeUser for a user option)."""
        command = self.command(name, guild)
        data = {"id": command["id"], "name": name, "type": 1, "options": [], "resolved": {}}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        for option_name, value in options.items():
            data["options"].append(self._option(command, option_name, value, data["resolved"], guild))
        return data

    def _option(self, command: dict, name: str, value, resolved: dict, guild: FakeGuild | None) -> dict:
        spec = next((o for o in command.get("options", []) if o["name"] == name), None)
        if spec is None:
            raise LookupError(f"/{command['name']} has no option {name!r}")
        if spec["type"] == USER_OPTION:
            resolved.setdefault("users", {})[value.id] = value.payload()
            if guild is not None and value in guild.members:
                resolved.setdefault("members", {})[value.id] = self.discord._member_payload(value, guild)
            value = value.id
        return {"name": name, "type": spec["type"], "value": value}
