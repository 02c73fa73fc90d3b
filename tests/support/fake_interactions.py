"""The interactions part of the loopback Discord: slash commands, buttons, and command registration.

As Discord documents it: INTERACTION_CREATE on the gateway; the bot answers once with
POST /interactions/{id}/{token}/callback within 3 seconds (late: 404 Unknown interaction, 10062;
twice: 400, 40060); follow-ups and edits of the original go through /webhooks/{app_id}/{token} while
the token lives (15 minutes); PUT /applications/{app_id}[/guilds/{guild_id}]/commands overwrites the
registered commands (tests/support/fake_commands.py), and a command must be registered before anyone can use it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.fake_commands import FakeCommands
from tests.support.fake_discord import (
    EVERYONE_PERMISSIONS,
    FILE_LIMIT,
    MANAGE_GUILD,
    FakeGuild,
    FakeUser,
    error,
    file_attachments,
    json_response,
    message_fields,
    snowflake,
)

INTERACTION_WINDOW_S = 3.0  # the first answer must come within 3 seconds
TOKEN_LIFETIME_S = 15 * 60  # follow-ups and edits for 15 minutes
EPHEMERAL = 1 << 6
LOADING = 1 << 7  # a deferred reply, "the bot is thinking"
APPLICATION_COMMAND, MESSAGE_COMPONENT = 2, 3
CHANNEL_MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL = 4, 5, 6, 7, 9
BUTTON = 2
GUILD_CONTEXT, BOT_DM_CONTEXT = 0, 1


def numbered(components: list[dict]) -> list[dict]:
    """Components as Discord answers them: each with an `id`, numbered 1, 2, ... in order where the
    sender gave none (rows before the buttons in them)."""
    counter = iter(range(1, 1_000))

    def number(component: dict) -> dict:
        component = {**component, "id": component.get("id") or next(counter)}
        if "components" in component:
            component["components"] = [number(child) for child in component["components"]]
        return component

    return [number(component) for component in components]


@dataclass
class Answer:
    """A message the bot posted in answer to an interaction, as Discord holds it."""

    id: str
    channel_id: str
    content: str = ""
    embeds: list = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    flags: int = 0
    components: list = field(default_factory=list)
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    def update(self, payload: dict, files: dict[str, bytes]) -> None:
        for key in ("content", "embeds", "components"):
            if key in payload:
                setattr(self, key, payload[key] or ([] if key != "content" else ""))
        self.components = numbered(self.components)
        self.files.update(files)
        self.flags &= ~LOADING


@dataclass
class FakeInteraction:
    id: str
    token: str
    type: int
    user: FakeUser
    channel_id: str
    created: float = field(default_factory=time.monotonic)
    callback_type: int | None = None
    original: Answer | None = None
    followups: list[Answer] = field(default_factory=list)
    target: Answer | None = None  # the message whose button was pressed

    @property
    def messages(self) -> list[Answer]:
        """What the bot said, in order: the original reply (once no longer loading), then follow-ups."""
        first = [self.original] if self.original and not self.original.loading else []
        return first + self.followups


class FakeInteractions:
    def __init__(self, discord):
        self.discord = discord
        self.window_s = INTERACTION_WINDOW_S
        self.token_lifetime_s = TOKEN_LIFETIME_S
        self.by_id: dict[str, FakeInteraction] = {}
        self.by_token: dict[str, FakeInteraction] = {}
        self.commands = FakeCommands(discord)
        self.late_callbacks = 0
        self._answered = asyncio.Event()

    def add_routes(self, app: web.Application, api: str) -> None:
        app.router.add_post(f"{api}/interactions/{{id}}/{{token}}/callback", self.callback)
        app.router.add_post(f"{api}/webhooks/{{app_id}}/{{token}}", self.followup)
        app.router.add_route("*", f"{api}/webhooks/{{app_id}}/{{token}}/messages/@original", self.original)
        self.commands.add_routes(app, api)

    # -- REST -------------------------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        interaction = self.by_id.get(request.match_info["id"])
        if interaction is None or interaction.token != request.match_info["token"]:
            return error(404, 10062, "Unknown interaction")
        if time.monotonic() - interaction.created > self.window_s:
            self.late_callbacks += 1
            return error(404, 10062, "Unknown interaction")
        if interaction.callback_type is not None:
            return error(400, 40060, "Interaction has already been acknowledged.")
        body, files = await self.discord._read_message_body(request)
        kind, data = body["type"], body.get("data") or {}
        interaction.callback_type = kind
        message = self._callback_message(interaction, kind, data, files)
        self._answered.set()
        # Discord's callback resource carries a message for types 4 and 7 only (the spec's oneOf).
        resource = (
            {"resource": {"type": kind, "message": self._payload(message, interaction)}}
            if message and kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE)
            else {}
        )
        return json_response(
            {
                "interaction": {
                    "id": interaction.id,
                    "type": interaction.type,
                    "activity_instance_id": None,
                    **({"response_message_id": message.id} if message else {}),
                    "response_message_loading": kind == DEFERRED_MESSAGE,
                    "response_message_ephemeral": bool(message and message.ephemeral),
                },
                **resource,
            }
        )

    def _callback_message(self, interaction: FakeInteraction, kind: int, data: dict, files: dict) -> Answer | None:
        if kind in (CHANNEL_MESSAGE, DEFERRED_MESSAGE):
            flags = (data.get("flags") or 0) | (LOADING if kind == DEFERRED_MESSAGE else 0)
            interaction.original = Answer(snowflake(), interaction.channel_id, flags=flags)
            interaction.original.update(data, files)
            if kind == DEFERRED_MESSAGE:
                interaction.original.flags |= LOADING
            return interaction.original
        if kind == UPDATE_MESSAGE and interaction.target is not None:
            interaction.target.update(data, files)
            return interaction.target
        return None  # DEFERRED_UPDATE: acknowledged, nothing shown

    async def followup(self, request: web.Request) -> web.Response:
        interaction, refusal = self._live(request)
        if refusal:
            return refusal
        body, files = await self.discord._read_message_body(request)
        if any(len(data) > FILE_LIMIT for data in files.values()):
            return error(413, 40005, "Request entity too large")
        original = interaction.original
        if original is not None and original.loading:
            message = original  # the first follow-up after a deferral replaces "thinking", keeping its flags
        else:
            message = Answer(snowflake(), interaction.channel_id, flags=body.get("flags") or 0)
            interaction.followups.append(message)
        message.update(body, files)
        self._answered.set()
        return json_response(self._payload(message, interaction))

    async def original(self, request: web.Request) -> web.Response:
        interaction, refusal = self._live(request)
        if refusal:
            return refusal
        message = interaction.original
        if message is None or message.deleted:
            return error(404, 10008, "Unknown Message")
        if request.method == "PATCH":
            body, files = await self.discord._read_message_body(request)
            message.update(body, files)
            self._answered.set()
        elif request.method == "DELETE":
            message.deleted = True
            return web.Response(status=204)
        return json_response(self._payload(message, interaction))

    def _live(self, request: web.Request) -> tuple[FakeInteraction | None, web.Response | None]:
        interaction = self.by_token.get(request.match_info["token"])
        if interaction is None or request.match_info["app_id"] != self.discord.bot_user.id:
            return None, error(404, 10015, "Unknown Webhook")
        if time.monotonic() - interaction.created > self.token_lifetime_s:
            return None, error(401, 50027, "Invalid Webhook Token")
        if interaction.callback_type is None:
            return None, error(404, 10015, "Unknown Webhook")  # nothing acknowledged yet
        return interaction, None

    def _payload(self, message: Answer, interaction: FakeInteraction) -> dict:
        data = {
            **message_fields(
                message.id,
                message.channel_id,
                self.discord.bot_user.payload(),
                message.content,
                embeds=message.embeds,
                attachments=file_attachments(message.files),
                components=message.components,
                message_type=20,
                flags=message.flags,
            ),
            "interaction_metadata": self._metadata(interaction),
        }
        guild = self.discord.guild_of(message.channel_id)
        if guild is not None:
            data["guild_id"] = guild.id
        return data

    def _metadata(self, interaction: FakeInteraction) -> dict:
        """interaction_metadata: who ran it, where it was installed, and for a button the message pressed."""
        guild = self.discord.guild_of(interaction.channel_id)
        owners = {"0": guild.id} if guild else {"1": interaction.user.id}
        metadata = {
            "id": interaction.id,
            "type": interaction.type,
            "user": interaction.user.payload(),
            "authorizing_integration_owners": owners,
        }
        if interaction.type == MESSAGE_COMPONENT:
            metadata["interacted_message_id"] = interaction.target.id
        return metadata

    # -- what tests do ----------------------------------------------------

    async def user_slash(
        self,
        user: FakeUser,
        name: str,
        options: dict | None = None,
        *,
        guild: FakeGuild | None = None,
        channel: str = "general",
        dm: bool = False,
        replies: int = 1,
    ) -> FakeInteraction:
        """`user` runs /name with `options` (a FakeUser for a user option); waits for `replies` answers."""
        guild = None if dm else guild or self.discord.guilds[0]
        data = self.commands.data(name, options or {}, guild)
        channel_id = self.discord.dm_channel_id if dm else guild.channels[channel]
        return await self._deliver(APPLICATION_COMMAND, user, guild, channel_id, data, {}, replies)

    async def press(self, user: FakeUser, message: Answer, *, replies: int = 1) -> FakeInteraction:
        """`user` presses the first button on `message`; waits for the bot's `replies` answers to it."""
        button = next(c for row in message.components for c in row["components"] if c["type"] == BUTTON)
        data = {"custom_id": button["custom_id"], "component_type": BUTTON}
        owner = next(i for i in self.by_id.values() if i.original is message or message in i.followups)
        extra = {"message": self._payload(message, owner)}
        guild = self.discord.guild_of(message.channel_id)
        interaction = await self._deliver(
            MESSAGE_COMPONENT, user, guild, message.channel_id, data, extra, replies, target=message
        )
        return interaction

    async def _deliver(
        self,
        kind: int,
        user: FakeUser,
        guild: FakeGuild | None,
        channel_id: str,
        data: dict,
        extra: dict,
        replies: int,
        target: Answer | None = None,
    ) -> FakeInteraction:
        interaction = FakeInteraction(snowflake(), f"token-{snowflake()}", kind, user, channel_id, target=target)
        self.by_id[interaction.id], self.by_token[interaction.token] = interaction, interaction
        payload = {
            "id": interaction.id,
            "application_id": self.discord.bot_user.id,
            "type": kind,
            "token": interaction.token,
            "version": 1,
            "data": data,
            "channel_id": channel_id,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": FILE_LIMIT,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            **extra,
        }
        if guild is None:
            payload.update(
                user=user.payload(),
                context=BOT_DM_CONTEXT,
                authorizing_integration_owners={"1": user.id},
                channel={"id": channel_id, "type": 1, "recipients": [user.payload()]},
            )
        else:
            payload.update(
                guild_id=guild.id,
                guild_locale="en-US",
                context=GUILD_CONTEXT,
                authorizing_integration_owners={"0": guild.id},
                member=self._member(user, guild),
                channel={
                    "id": channel_id,
                    "type": 0,
                    "guild_id": guild.id,
                    "name": "channel",
                    "position": 0,
                    "permission_overwrites": [],
                    "nsfw": False,
                },
            )
        await self.discord._dispatch(self.discord.socket_for(guild), "INTERACTION_CREATE", payload)
        await self.wait_for_answers(interaction, replies)
        return interaction

    async def wait_for_answers(self, interaction: FakeInteraction, count: int, timeout: float = 10.0) -> None:
        async def enough():
            while len(interaction.messages) < count and not self._only_acknowledged(interaction, count):
                self._answered.clear()
                await self._answered.wait()

        await asyncio.wait_for(enough(), timeout)

    @staticmethod
    def _only_acknowledged(interaction: FakeInteraction, count: int) -> bool:
        """A button press answered by updating its message (7) or a silent acknowledgement (6) says nothing new."""
        return count == 1 and interaction.callback_type in (UPDATE_MESSAGE, DEFERRED_UPDATE)

    def _member(self, user: FakeUser, guild: FakeGuild) -> dict:
        permissions = EVERYONE_PERMISSIONS | (MANAGE_GUILD if user.id in guild.admins else 0)
        return {**self.discord._member_payload(user, guild), "user": user.payload(), "permissions": str(permissions)}
