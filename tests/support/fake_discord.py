"""A loopback Discord: the REST routes and gateway the unmodified discord.py uses.

It speaks the real wire format (API v10 JSON, the HELLO/IDENTIFY/READY handshake,
dispatches with sequence numbers, multipart uploads) so discord.py runs unpatched
except for the two URLs it is pointed at (see field-notes.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import WSMsgType, web

from bot.discord_front.live_reply import WRITING_MARK
from tests.support.contracts.discord_rest import DiscordContract, invalid_form_body, read_body
from tests.support.fake_gateway import DISALLOWED_INTENTS, as_received, shard_of
from tests.support.fake_ratelimit import ChannelLimits
from tests.support.loopback import serve

CONTENT_LIMIT = 2000  # characters in a bot's message
FILE_LIMIT = 10 * 1024 * 1024  # a normal server's upload limit, as Discord enforces it
CDN_URL_LIFETIME_S = 24 * 3600  # Discord's attachment URLs are issued for about a day (ex - is)
CDN_GONE = "This content is no longer available."  # the CDN's 404 body for an expired or unsigned URL
MANAGE_GUILD = 1 << 5
GUILD_MEMBERS_INTENT = 1 << 1
EVERYONE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16)  # view, send, embed, attach, history
VIEW_CHANNEL, SEND_MESSAGES, MANAGE_MESSAGES, READ_MESSAGE_HISTORY = 1 << 10, 1 << 11, 1 << 13, 1 << 16
MEMBER_OVERWRITE = 1  # a permission overwrite's type for one member (0 is a role)
CANNOT_REPLY_WITHOUT_HISTORY = 160002  # Discord's JSON error code (opcodes-and-status-codes.mdx)
DISCORD_EPOCH_MS = 1_420_070_400_000  # snowflakes count milliseconds from 2015-01-01
_last_id = 0


def snowflake() -> str:
    """A new id that, like Discord's, encodes the time it was made (discord.py reads an interaction's
    age from it), each one larger than the last."""
    global _last_id
    _last_id = max(_last_id + 1, (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22)
    return str(_last_id)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


MIGRATED_DISCRIMINATOR = "0"  # every person's account moved to unique usernames has discriminator "0"
LEGACY_DISCRIMINATORS = 9999  # bot accounts kept the old system: a tag from 0001 to 9999


def discriminator(user_id: str, bot: bool) -> str:
    return f"{int(user_id) % LEGACY_DISCRIMINATORS + 1:04d}" if bot else MIGRATED_DISCRIMINATOR


def user_payload(user_id: str, name: str, *, bot: bool = False, global_name: str | None = None) -> dict:
    """A user object with every field the spec's UserResponse requires."""
    return {
        "id": user_id,
        "username": name,
        "discriminator": discriminator(user_id, bot),
        "global_name": global_name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
    }


@dataclass
class FakeUser:
    id: str
    name: str
    global_name: str | None = None
    bot: bool = False

    def payload(self) -> dict:
        return user_payload(self.id, self.name, bot=self.bot, global_name=self.global_name)


@dataclass
class FakeGuild:
    """One server: its channels, its members, who has Manage Server there, and server nicknames."""

    id: str
    name: str
    owner: FakeUser
    admin_role_id: str
    channels: dict[str, str]
    members: list[FakeUser]
    admins: set[str] = field(default_factory=set)
    nicks: dict[str, str] = field(default_factory=dict)


@dataclass
class SentMessage:
    """Something the bot posted, as Discord received it."""

    id: str
    channel_id: str
    content: str
    embeds: list
    files: dict[str, bytes] = field(default_factory=dict)
    reference: dict | None = None
    allowed_mentions: dict | None = None
    pinged: set[str] = field(default_factory=set)  # user ids, "role:<id>" and "@everyone" it notified
    versions: list[tuple[float, str]] = field(default_factory=list)  # (loop time, content) as sent, then each edit


USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_PARSE = ("users", "roles", "everyone")  # what Discord parses when allowed_mentions is absent


def pinged(content: str, allowed: dict | None, replied_author: str | None) -> set[str]:
    """Who a message notifies, by Discord's allowed_mentions rules."""
    allowed = {"parse": list(EVERYONE_PARSE), "replied_user": True} if allowed is None else allowed
    parse = set(allowed.get("parse") or ())
    users = {u for u in USER_MENTION.findall(content) if "users" in parse or u in (allowed.get("users") or ())}
    roles = {
        f"role:{r}" for r in ROLE_MENTION.findall(content) if "roles" in parse or r in (allowed.get("roles") or ())
    }
    everyone = {"@everyone"} if "everyone" in parse and ("@everyone" in content or "@here" in content) else set()
    replied = {replied_author} if replied_author and allowed.get("replied_user") else set()
    return users | roles | everyone | replied


DEFAULT_REFERENCE = 0  # message_reference.type: a reply (1 would be a forward)


def reference_payload(sent: dict, channel_id: str) -> dict:
    """The message_reference Discord answers: its own fields only, ids as strings (discord.py may send ints)."""
    reference = {"type": sent.get("type") or DEFAULT_REFERENCE, "channel_id": str(sent.get("channel_id") or channel_id)}
    for key in ("message_id", "guild_id"):
        if sent.get(key) is not None:
            reference[key] = str(sent[key])
    return reference


def json_response(data, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py compares Content-Type literally; json_response() would add "; charset=utf-8".
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={**(headers or {}), "Content-Type": "application/json"}
    )


def error(status: int, code: int, message: str) -> web.Response:
    return json_response({"code": code, "message": message}, status)


def invalid_field(field_name: str, code: str, message: str) -> web.Response:
    """400 / 50035 with the error under the field, as Discord nests it (reference.mdx, "Error Messages")."""
    return invalid_form_body({field_name: {"_errors": [{"code": code, "message": message}]}})


def content_too_long() -> web.Response:
    """Discord's answer to a bot's message over 2,000 characters (the spec's 4,000 is for Nitro users)."""
    return invalid_form_body(
        {
            "content": {
                "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {CONTENT_LIMIT} or fewer in length."}]
            }
        }
    )


def message_fields(
    message_id: str,
    channel_id: str,
    author: dict,
    content: str,
    *,
    embeds: list | None = None,
    attachments: list | None = None,
    components: list | None = None,
    message_type: int = 0,
    flags: int = 0,
) -> dict:
    """The fields every message object carries (the spec's MessageResponse), the same for the bot's
    messages, its interaction answers and users' messages."""
    return {
        "id": message_id,
        "channel_id": channel_id,
        "author": author,
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "embeds": embeds or [],
        "attachments": attachments or [],
        "components": components or [],
        "pinned": False,
        "type": message_type,
        "flags": flags,
    }


def file_attachments(files: dict[str, bytes]) -> list[dict]:
    """Attachment objects for the files a message was sent with."""
    return [
        {"id": snowflake(), "filename": name, "size": len(data), "url": "", "proxy_url": ""}
        for name, data in files.items()
    ]


# A plain server's settings, as GUILD_CREATE carries them (the spec's GuildResponse requires each).
GUILD_DEFAULTS = {
    "icon": None,
    "description": None,
    "home_header": None,
    "splash": None,
    "discovery_splash": None,
    "banner": None,
    "features": [],
    "application_id": None,
    "region": "deprecated",
    "afk_channel_id": None,
    "afk_timeout": 300,
    "system_channel_id": None,
    "system_channel_flags": 0,
    "widget_enabled": False,
    "widget_channel_id": None,
    "verification_level": 0,
    "default_message_notifications": 0,
    "mfa_level": 0,
    "explicit_content_filter": 0,
    "max_presences": None,
    "max_members": 500000,
    "max_stage_video_channel_users": 50,
    "max_video_channel_users": 25,
    "vanity_url_code": None,
    "premium_tier": 0,
    "premium_subscription_count": 0,
    "preferred_locale": "en-US",
    "rules_channel_id": None,
    "safety_alerts_channel_id": None,
    "public_updates_channel_id": None,
    "premium_progress_bar_enabled": False,
    "nsfw": False,
    "nsfw_level": 0,
    "incidents_data": None,
}


class FakeDiscord:
    def __init__(self):
        self.bot_user = FakeUser(snowflake(), "LogBot", bot=True)
        self.guilds: list[FakeGuild] = []
        first = self.add_guild("Test Server")
        # The first server, under the names the single-server tests use.
        self.guild_id, self.admin_role_id, self.channels = first.id, first.admin_role_id, first.channels
        self.owner, self.members = first.owner, first.members
        self.dm_channel_id = snowflake()
        self.authors: dict[str, str] = {}  # message id -> author id, for who a reply pings
        self.sent: list[SentMessage] = []
        self.typing: list[str] = []
        self.bot_reactions: list[tuple[str, str]] = []  # (message id, emoji) the bot added
        self.refuse_send: dict[str, int] = {}  # channel id -> HTTP status
        self.limits = ChannelLimits()  # sends and edits per channel; 429 past the limit
        self.messages: dict[str, dict] = {}  # every message's payload by id (users' and the bot's)
        self.files: dict[str, tuple[bytes, str]] = {}  # attachment id -> (bytes, content type), on the "CDN"
        self.cdn_redirects: dict[str, str] = {}  # attachment id -> where the CDN redirects it (a probe)
        self._cdn_key = secrets.token_bytes(32)  # signs the CDN's URLs, as Discord's hm does
        self.threads: dict[str, str] = {}  # thread id -> parent channel id
        self.thread_payloads: dict[str, dict] = {}  # thread id -> the thread as GUILD_CREATE and GET list it
        self.bot_denied: dict[str, int] = {}  # channel id -> permissions a member overwrite denies the bot there
        self.on_edit: Callable[[SentMessage], None] | None = None  # a test's probe, run as each edit lands
        self.identify: dict | None = None
        self.refused_intents = 0  # intents the "developer portal" has not enabled: IDENTIFY with them gets 4014
        self.recommended_shards = 1  # what GET /gateway/bot advises
        self.refused_tokens: set[str] = set()  # tokens "reset in the portal": GET /users/@me answers 401
        self.identifies: list[dict] = []
        self.shard_of_socket: dict[web.WebSocketResponse, tuple[int, int]] = {}  # (shard id, shard count)
        self.events: list[dict] = []  # every dispatch, to replay after a RESUME
        self.resumes = 0
        self.sockets: list[web.WebSocketResponse] = []
        self._sequence = itertools.count(1)
        self._sent_event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.contract = DiscordContract()  # every REST body checked against Discord's OpenAPI spec
        from tests.support.fake_interactions import FakeInteractions  # it builds on this module's parts

        self.interactions = FakeInteractions(self)

    # -- set-up -----------------------------------------------------------

    def add_guild(self, name: str) -> FakeGuild:
        """A server with a #general and a #chat channel, owned by a user of its own."""
        owner = FakeUser(snowflake(), f"owner of {name}")
        guild = FakeGuild(
            snowflake(), name, owner, snowflake(), {"general": snowflake(), "chat": snowflake()}, [self.bot_user, owner]
        )
        self.guilds.append(guild)
        return guild

    def add_member(
        self,
        name: str,
        *,
        admin: bool = False,
        global_name: str | None = None,
        bot: bool = False,
        guild: FakeGuild | None = None,
    ) -> FakeUser:
        user = FakeUser(snowflake(), name, global_name=global_name, bot=bot)
        self.join(user, guild or self.guilds[0], admin=admin)
        return user

    def join(self, user: FakeUser, guild: FakeGuild, *, admin: bool = False, nick: str | None = None) -> None:
        """`user` becomes a member of `guild`, with Manage Server there if `admin`."""
        if user not in guild.members:
            guild.members.append(user)
        if admin:
            guild.admins.add(user.id)
        if nick is not None:
            guild.nicks[user.id] = nick

    def guild_of(self, channel_id: str) -> FakeGuild | None:
        channel_id = self.threads.get(channel_id, channel_id)  # a thread is in its parent's server
        return next((g for g in self.guilds if channel_id in g.channels.values()), None)

    async def start(self) -> FakeDiscord:
        self._runner, self.port = await serve(self.build_app())
        return self

    def build_app(self) -> web.Application:
        """Every route this fake serves, each REST request held to Discord's OpenAPI spec (tests/support/contracts)."""
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self.contract.middleware])
        app.router.add_get("/gateway", self.gateway)
        api = "/api/v10"
        app.router.add_get(f"{api}/gateway/bot", self.bot_gateway)
        app.router.add_get(f"{api}/users/@me", self.current_user)
        app.router.add_get(f"{api}/oauth2/applications/@me", self.application)
        app.router.add_post(f"{api}/users/@me/channels", self.create_dm)
        app.router.add_get(f"{api}/channels/{{channel_id}}", self.get_channel)
        app.router.add_post(f"{api}/channels/{{channel_id}}/typing", self.trigger_typing)
        app.router.add_post(f"{api}/channels/{{channel_id}}/messages", self.create_message)
        app.router.add_patch(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self.edit_message)
        app.router.add_get(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self.get_message)
        app.router.add_delete(f"{api}/channels/{{channel_id}}/messages/{{message_id}}", self.delete_message)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self.attachment)
        app.router.add_put(
            f"{api}/channels/{{channel_id}}/messages/{{message_id}}/reactions/{{emoji}}/@me", self.add_own_reaction
        )
        self.interactions.add_routes(app, api)
        return app

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- REST -------------------------------------------------------------

    async def bot_gateway(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
            }
        )

    async def current_user(self, request: web.Request) -> web.Response:
        # GET /users/@me answers the spec's UserPIIResponse: the user plus its account settings, or, for a
        # token Discord does not know, its 4XX ErrorResponse (what discord.py's login turns into LoginFailure).
        if request.headers.get("Authorization", "").removeprefix("Bot ") in self.refused_tokens:
            return error(401, 0, "401: Unauthorized")
        return json_response({**self.bot_user.payload(), "mfa_enabled": False, "locale": "en-US", "verified": True})

    async def application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": self.bot_user.id,
                "name": "LogBot",
                "description": "",
                "icon": None,
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner.payload(),
                "verify_key": "0" * 64,
                "flags": 0,
                "flags_new": "0",
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "approximate_guild_count": len(self.guilds),
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "team": None,
                "eligible_oauth2_scopes": [],
            }
        )

    async def create_dm(self, request: web.Request) -> web.Response:
        """POST /users/@me/channels: the DM channel with a user (every user's is `dm_channel_id` here)."""
        recipient = str((await request.json()).get("recipient_id"))
        user = next((u for g in self.guilds for u in g.members if u.id == recipient), None)
        if user is None:
            return json_response(
                {
                    "code": 50035,
                    "message": "Invalid Form Body",
                    "errors": {
                        "recipient_id": {
                            "_errors": [
                                {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{recipient}" is not snowflake.'}
                            ]
                        }
                    },
                },
                400,
            )
        return json_response(
            {"id": self.dm_channel_id, "type": 1, "last_message_id": None, "flags": 0, "recipients": [user.payload()]}
        )

    async def get_channel(self, request: web.Request) -> web.Response:
        """GET /channels/{id}: the DM channel (its recipient: the first server's owner), a server's channel or
        thread, or Discord's 404 for a channel that does not exist (any more)."""
        channel_id = request.match_info["channel_id"]
        if channel_id == self.dm_channel_id:
            recipient = self.guilds[0].owner.payload()
            return json_response(
                {"id": channel_id, "type": 1, "last_message_id": None, "flags": 0, "recipients": [recipient]}
            )
        if channel_id in self.thread_payloads:
            return json_response(self.thread_payloads[channel_id])
        guild = self.guild_of(channel_id)
        if guild is None:
            return error(404, 10003, "Unknown Channel")
        return json_response(next(c for c in self._channel_payloads(guild) if c["id"] == channel_id))

    async def trigger_typing(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel_id"]
        if channel_id in self.refuse_send:
            return error(403, 50013, "Missing Permissions")
        self.typing.append(channel_id)
        return web.Response(status=204)

    async def create_message(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel_id"]
        if self.refuse_send.get(channel_id) == 403:
            return error(403, 50013, "Missing Permissions")
        limit_headers, refusal = self.limits.take(channel_id)
        if refusal is not None:
            return refusal
        payload, files = await self._read_message_body(request)
        refused = self._permission_refusal(channel_id, payload) or self._reference_refusal(payload)
        if refused is not None:
            return refused
        if any(len(data) > FILE_LIMIT for data in files.values()):
            return error(413, 40005, "Request entity too large")
        if not payload.get("content") and not payload.get("embeds") and not files:
            return error(400, 50006, "Cannot send an empty message")
        if len(payload.get("content") or "") > CONTENT_LIMIT:
            return content_too_long()
        content, reference = payload.get("content") or "", self._kept_reference(payload)
        replied_author = self.authors.get(str(reference["message_id"])) if reference else None  # int or str
        message = SentMessage(
            snowflake(),
            channel_id,
            content,
            payload.get("embeds") or [],
            files,
            reference,
            payload.get("allowed_mentions"),
            pinged(content, payload.get("allowed_mentions"), replied_author),
        )
        message.versions.append((asyncio.get_running_loop().time(), content))
        self.authors[message.id] = self.bot_user.id
        self.sent.append(message)
        self._sent_event.set()
        data = self.messages[message.id] = self._message_payload(message)
        # Discord echoes the bot's own messages on the gateway too.
        await self._dispatch(self.socket_for(self.guild_of(channel_id)), "MESSAGE_CREATE", data)
        return json_response(data, headers=limit_headers)

    async def add_own_reaction(self, request: web.Request) -> web.Response:
        self.bot_reactions.append((request.match_info["message_id"], request.match_info["emoji"]))
        return web.Response(status=204)

    async def _read_message_body(self, request: web.Request) -> tuple[dict, dict[str, bytes]]:
        payload, files = await read_body(request)  # the contract middleware has parsed (and validated) it
        return payload or {}, files

    def _message_payload(self, message: SentMessage) -> dict:
        data = message_fields(
            message.id,
            message.channel_id,
            self.bot_user.payload(),
            message.content,
            embeds=message.embeds,
            attachments=file_attachments(message.files),
            message_type=19 if message.reference else 0,
        )
        guild = self.guild_of(message.channel_id)
        if guild is not None:
            data["guild_id"] = guild.id
        if message.reference:
            data["message_reference"] = reference_payload(message.reference, message.channel_id)
        return data

    # -- edits, references, attachments, threads ---------------------------

    async def edit_message(self, request: web.Request) -> web.Response:
        """PATCH a message: only the bot's own, within the channel's send/edit limit."""
        channel_id, message_id = request.match_info["channel_id"], request.match_info["message_id"]
        message = next((m for m in self.sent if m.id == message_id and m.channel_id == channel_id), None)
        if message is None or message_id not in self.messages:  # never sent, or deleted since
            return error(404, 10008, "Unknown Message")
        limit_headers, refusal = self.limits.take(channel_id)
        if refusal is not None:
            return refusal
        payload, _files = await self._read_message_body(request)
        content = payload.get("content", message.content)
        if not content and not message.embeds:
            return error(400, 50006, "Cannot send an empty message")
        if len(content) > CONTENT_LIMIT:
            return content_too_long()
        message.content = content
        message.versions.append((asyncio.get_running_loop().time(), content))
        if self.on_edit is not None:
            self.on_edit(message)
        data = self.messages[message.id] = {**self._message_payload(message), "edited_timestamp": now_iso()}
        self._sent_event.set()
        await self._dispatch(self.socket_for(self.guild_of(channel_id)), "MESSAGE_UPDATE", data)
        return json_response(data, headers=limit_headers)

    async def get_message(self, request: web.Request) -> web.Response:
        data = self.messages.get(request.match_info["message_id"])
        if data is None or data["channel_id"] != request.match_info["channel_id"]:
            return error(404, 10008, "Unknown Message")
        return json_response(data)

    async def attachment(self, request: web.Request) -> web.Response:
        """The CDN: only a URL signed here and not yet expired is served; anything else gets Discord's
        404 "This content is no longer available." (the docs' "Signed Attachment CDN URLs")."""
        found = self.files.get(request.match_info["attachment_id"])
        query = request.query
        signed = all(key in query for key in ("ex", "is", "hm")) and hmac.compare_digest(
            query["hm"], self._signature(request.path, query["ex"], query["is"])
        )
        if found is None or not signed or int(query["ex"], 16) <= time.time():
            return web.Response(status=404, text=CDN_GONE)
        if request.match_info["attachment_id"] in self.cdn_redirects:
            raise web.HTTPFound(self.cdn_redirects[request.match_info["attachment_id"]])
        response = web.Response(body=found[0], headers={"Content-Type": found[1]})
        if found[1].startswith("text/"):
            response.enable_compression()  # as CDNs do for clients that accept gzip: no true Content-Length
        return response

    @property
    def cdn_base(self) -> str:
        """The loopback CDN's origin: DISCORD_CDN_BASE for the bot under test."""
        return f"http://127.0.0.1:{self.port}"

    def _signature(self, path: str, expires: str, issued: str) -> str:
        return hmac.new(self._cdn_key, f"{path}?ex={expires}&is={issued}".encode(), hashlib.sha256).hexdigest()

    def signed_url(self, path: str, expires_in: float = CDN_URL_LIFETIME_S) -> str:
        """`path` on the CDN with Discord's ex (expiry), is (issued) and hm (signature) parameters: hex Unix
        seconds and a hex HMAC, ending in `&` as Discord's do."""
        issued = int(time.time())
        ex, is_ = f"{int(issued + expires_in):x}", f"{issued:x}"
        return f"{self.cdn_base}{path}?ex={ex}&is={is_}&hm={self._signature(path, ex, is_)}&"

    def attach(
        self,
        filename: str,
        data: bytes,
        content_type: str | None,
        *,
        channel: str = "general",
        width: int | None = None,
        height: int | None = None,
        expires_in: float = CDN_URL_LIFETIME_S,
        declared_size: int | None = None,
        redirect_to: str | None = None,
    ) -> dict:
        """An attachment payload as MESSAGE_CREATE carries it, its bytes served on the loopback CDN under
        a signed URL that expires in `expires_in` seconds. For the probes: `declared_size` is what the
        payload claims (default: the truth), and `redirect_to` makes the CDN answer 302 there."""
        attachment_id = snowflake()
        self.files[attachment_id] = (data, content_type or "application/octet-stream")
        if redirect_to is not None:
            self.cdn_redirects[attachment_id] = redirect_to
        url = self.signed_url(
            f"/attachments/{self.channels.get(channel, channel)}/{attachment_id}/{filename}", expires_in
        )
        payload = {
            "id": attachment_id,
            "filename": filename,
            "size": len(data) if declared_size is None else declared_size,
            "url": url,
            "proxy_url": url,
            "width": width,
            "height": height,
        }
        if content_type is not None:  # Discord omits it when it cannot tell
            payload["content_type"] = content_type
        return payload

    async def start_thread(self, message_id: str, name: str, owner: FakeUser) -> str:
        """A user starts a thread from a message: its id is the message's, its parent the message's channel."""
        parent = self.messages[message_id]["channel_id"]
        self.add_thread(message_id, parent, name, owner)
        await self._dispatch(
            self.socket_for(self.guild_of(parent)),
            "THREAD_CREATE",
            {**self.thread_payloads[message_id], "newly_created": True},
        )
        return message_id

    def add_thread(self, thread_id: str, parent: str, name: str, owner: FakeUser) -> str:
        """An active thread in `parent` (a channel id), listed by GUILD_CREATE from the next connection on."""
        self.threads[thread_id] = parent
        self.thread_payloads[thread_id] = {
            "id": thread_id,
            "guild_id": self.guild_of(parent).id,
            "parent_id": parent,
            "owner_id": owner.id,
            "name": name,
            "type": 11,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": now_iso(),
                "locked": False,
                "create_timestamp": now_iso(),
            },
        }
        return thread_id

    def _reference(self, reply_to: str) -> dict:
        """message_reference and referenced_message of a reply, and whom it pings (Discord's default)."""
        referenced = self.messages[reply_to]
        return {
            "message_reference": {
                "type": DEFAULT_REFERENCE,
                "message_id": reply_to,
                "channel_id": referenced["channel_id"],
                **({"guild_id": referenced["guild_id"]} if "guild_id" in referenced else {}),
            },
            "referenced_message": referenced,
            "type": 19,
        }

    # -- what Discord refuses that no schema says: permissions, replies, deleted messages --------

    def bot_permissions(self, channel_id: str) -> int | None:
        """The bot's permissions in a server channel (its @everyone role less its overwrite); None in a DM."""
        channel_id = self.threads.get(channel_id, channel_id)  # a thread has its parent's permissions
        if self.guild_of(channel_id) is None:
            return None
        return EVERYONE_PERMISSIONS & ~self.bot_denied.get(channel_id, 0)

    def _permission_refusal(self, channel_id: str, payload: dict) -> web.Response | None:
        """Discord's checks of Create Message (message.mdx, "Limitations"): send, and history for a reply."""
        permissions = self.bot_permissions(channel_id)
        if permissions is None:
            return None
        if not permissions & VIEW_CHANNEL:
            return error(403, 50001, "Missing Access")
        if not permissions & SEND_MESSAGES:
            return error(403, 50013, "Missing Permissions")
        if payload.get("message_reference") and not permissions & READ_MESSAGE_HISTORY:
            return error(403, CANNOT_REPLY_WITHOUT_HISTORY, "Cannot reply without permission to read message history")
        return None

    def _reference_refusal(self, payload: dict) -> web.Response | None:
        """A reply to a deleted or unknown message fails unless `fail_if_not_exists` is false (default true)."""
        reference = payload.get("message_reference")
        if not reference or str(reference.get("message_id")) in self.messages:
            return None
        if reference.get("fail_if_not_exists", True):
            return invalid_field("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
        return None

    def _kept_reference(self, payload: dict) -> dict | None:
        """The reference a created message keeps: none when its target is gone (sent as a normal message)."""
        reference = payload.get("message_reference")
        return reference if reference and str(reference.get("message_id")) in self.messages else None

    async def delete_message(self, request: web.Request) -> web.Response:
        """DELETE a message: the bot's own, or anyone's with Manage Messages (which the bot has not)."""
        channel_id, message_id = request.match_info["channel_id"], request.match_info["message_id"]
        data = self.messages.get(message_id)
        if data is None or data["channel_id"] != channel_id:
            return error(404, 10008, "Unknown Message")
        permissions = self.bot_permissions(channel_id)
        if data["author"]["id"] != self.bot_user.id and not (permissions or 0) & MANAGE_MESSAGES:
            return error(403, 50013, "Missing Permissions")
        await self.user_deletes(message_id)
        return web.Response(status=204)

    async def user_deletes(self, message_id: str) -> None:
        """A message is deleted (by its author, say): gone from the API, and MESSAGE_DELETE on the gateway."""
        data = self.messages.pop(message_id)
        event = {
            "id": message_id,
            "channel_id": data["channel_id"],
            **({"guild_id": data["guild_id"]} if "guild_id" in data else {}),
        }
        await self._dispatch(self.socket_for(self.guild_of(data["channel_id"])), "MESSAGE_DELETE", event)

    async def deny_bot(self, channel: str, permissions: int) -> None:
        """A member overwrite denies the bot `permissions` in a channel (by name or id): CHANNEL_UPDATE follows."""
        channel_id = self.channels.get(channel, channel)
        self.bot_denied[channel_id] = self.bot_denied.get(channel_id, 0) | permissions
        guild = self.guild_of(channel_id)
        [data] = [c for c in self._channel_payloads(guild) if c["id"] == channel_id]
        await self._dispatch(self.socket_for(guild), "CHANNEL_UPDATE", {**data, "guild_id": guild.id})

    def _channel_payloads(self, guild: FakeGuild) -> list[dict]:
        return [
            {
                "id": cid,
                "type": 0,
                "name": name,
                "position": i,
                "permission_overwrites": self._overwrites(cid),
                "nsfw": False,
                "flags": 0,
                "guild_id": guild.id,
            }
            for i, (name, cid) in enumerate(guild.channels.items())
        ]

    def _overwrites(self, channel_id: str) -> list[dict]:
        denied = self.bot_denied.get(channel_id)
        return (
            []
            if not denied
            else [{"id": self.bot_user.id, "type": MEMBER_OVERWRITE, "allow": "0", "deny": str(denied)}]
        )

    # -- gateway ----------------------------------------------------------

    async def gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            await self._on_gateway_message(ws, json.loads(msg.data))
        self.sockets.remove(ws)
        return ws

    async def _on_gateway_message(self, ws: web.WebSocketResponse, data: dict) -> None:
        if data["op"] == 1:
            await ws.send_json({"op": 11})
        elif data["op"] == 2:
            self.identifies.append(data["d"])
            if data["d"]["intents"] & self.refused_intents:
                await ws.close(code=DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
                return
            self.identify = data["d"]
            shard_id, shard_count = self.shard_of_socket[ws] = tuple(data["d"].get("shard") or (0, 1))
            guilds = [g for g in self.guilds if shard_of(g.id, shard_count) == shard_id]
            await self._dispatch(
                ws,
                "READY",
                {
                    "v": 10,
                    "user": self.bot_user.payload(),
                    "guilds": [{"id": guild.id, "unavailable": True} for guild in guilds],
                    "session_id": f"fake-session-{shard_id}-{shard_count}",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": self.bot_user.id, "flags": 0},
                    "private_channels": [],
                    **({"shard": [shard_id, shard_count]} if "shard" in data["d"] else {}),
                },
            )
            for guild in guilds:
                await self._dispatch(ws, "GUILD_CREATE", self._guild_payload(guild))
        elif data["op"] == 6:
            # Like Discord: replay what the client missed since its last sequence number, on its shard.
            self.resumes += 1
            shard_id, shard_count = map(int, data["d"]["session_id"].split("-")[-2:])
            self.shard_of_socket[ws] = (shard_id, shard_count)
            for payload in [
                p
                for p in self.events
                if p["s"] > (data["d"]["seq"] or 0) and shard_of(p["d"].get("guild_id"), shard_count) == shard_id
            ]:
                await ws.send_json(payload)
            await self._dispatch(ws, "RESUMED", {})

    def socket_for(self, guild: FakeGuild | None) -> web.WebSocketResponse | None:
        """The live connection of the shard that carries a server's events (DMs: shard 0)."""
        for ws in reversed(self.sockets):
            shard_id, shard_count = self.shard_of_socket.get(ws, (None, 1))
            if not ws.closed and shard_id == shard_of(guild and guild.id, shard_count):
                return ws
        return None

    def _live_socket(self) -> web.WebSocketResponse | None:
        return next((ws for ws in reversed(self.sockets) if not ws.closed), None)

    async def _dispatch(self, ws: web.WebSocketResponse | None, event: str, data: dict) -> None:
        """Send an event now, or (no connection) keep it for the replay after the client resumes."""
        if event == "MESSAGE_CREATE" and self.identify is not None:
            data = as_received(data, self.identify["intents"], self.bot_user.id)
        payload = {"op": 0, "t": event, "s": next(self._sequence), "d": data}
        self.events.append(payload)
        if ws is not None and not ws.closed:
            await ws.send_json(payload)

    def _member_payload(self, user: FakeUser, guild: FakeGuild) -> dict:
        """A guild member without its `user` (as MESSAGE_CREATE carries it): the spec's required fields."""
        return {
            "roles": [guild.admin_role_id] if user.id in guild.admins else [],
            "joined_at": now_iso(),
            "nick": guild.nicks.get(user.id),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "avatar": None,
            "banner": None,
            "communication_disabled_until": None,
            "pending": False,
            "premium_since": None,
        }

    def _guild_payload(self, guild: FakeGuild) -> dict:
        """GUILD_CREATE: a guild object (the spec's GuildResponse) plus the gateway's extra fields."""
        role = {
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        return {
            **GUILD_DEFAULTS,
            "id": guild.id,
            "name": guild.name,
            "owner_id": guild.owner.id,
            "member_count": len(guild.members),
            "large": False,
            "joined_at": now_iso(),
            "emojis": [],
            "stickers": [],
            "threads": [t for t in self.thread_payloads.values() if t["guild_id"] == guild.id],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "roles": [
                {**role, "id": guild.id, "name": "@everyone", "position": 0, "permissions": str(EVERYONE_PERMISSIONS)},
                {
                    **role,
                    "id": guild.admin_role_id,
                    "name": "Admin",
                    "position": 1,
                    "permissions": str(EVERYONE_PERMISSIONS | MANAGE_GUILD),
                },
            ],
            "channels": self._channel_payloads(guild),
            # Without the privileged GUILD_MEMBERS intent Discord sends only the bot itself.
            "members": [
                {**self._member_payload(u, guild), "user": u.payload()}
                for u in guild.members
                if u is self.bot_user or self.identify["intents"] & GUILD_MEMBERS_INTENT
            ],
        }

    # -- what tests do ----------------------------------------------------

    async def user_says(
        self,
        author: FakeUser,
        content: str,
        *,
        channel: str = "general",
        mention_bot: bool = False,
        mentions: list[FakeUser] = (),
        dm: bool = False,
        guild: FakeGuild | None = None,
        reply_to: str | None = None,
        attachments: list[dict] = (),
        thread: str | None = None,
        ping: bool = True,
    ) -> str:
        """Deliver a MESSAGE_CREATE as Discord would (in the first server unless told); returns its id.

        `reply_to` a message id makes it a reply (pinging that message's author, as Discord does by
        default; `ping=False` is the reply with its @ switched off); `attachments` are payloads from
        `attach`; `thread` posts in that thread.
        """
        guild = None if dm else guild or self.guilds[0]
        mentioned = ([self.bot_user] if mention_bot else []) + list(mentions)
        if reply_to is not None and self.authors.get(reply_to) == self.bot_user.id and ping and not mention_bot:
            mentioned.insert(0, self.bot_user)
        if mention_bot:
            content = f"<@{self.bot_user.id}> {content}"
        message_id = snowflake()
        self.authors[message_id] = author.id
        channel_id = self.dm_channel_id if dm else thread or guild.channels[channel]
        data = {
            "id": message_id,
            "channel_id": channel_id,
            "author": author.payload(),
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mention_roles": [],
            "attachments": list(attachments),
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "mentions": [
                {**u.payload(), **({"member": self._member_payload(u, guild)} if guild else {})} for u in mentioned
            ],
        }
        if guild is not None:
            data["guild_id"] = guild.id
            data["member"] = self._member_payload(author, guild)
        if reply_to is not None:
            data.update(self._reference(reply_to))
        self.messages[message_id] = data
        await self._dispatch(self.socket_for(guild), "MESSAGE_CREATE", data)
        return message_id

    async def user_forwards(
        self, author: FakeUser, message_id: str, *, channel: str = "general", content: str = ""
    ) -> str:
        """`author` forwards a message into `channel` of the first server: a MESSAGE_CREATE whose
        message_reference has type 1 (FORWARD) and points at the original, wherever it is, and whose
        message_snapshots carry its content (Discord's message docs, "Message Reference Types")."""
        original, guild = self.messages[message_id], self.guilds[0]
        forward_id = snowflake()
        self.authors[forward_id] = author.id
        data = self.messages[forward_id] = {
            **message_fields(forward_id, guild.channels[channel], author.payload(), content),
            "guild_id": guild.id,
            "member": self._member_payload(author, guild),
            "message_reference": {
                "type": 1,
                "message_id": message_id,
                "channel_id": original["channel_id"],
                **({"guild_id": original["guild_id"]} if "guild_id" in original else {}),
            },
            "message_snapshots": [
                {
                    "message": {
                        key: original[key]
                        for key in (
                            "type",
                            "content",
                            "embeds",
                            "attachments",
                            "timestamp",
                            "edited_timestamp",
                            "flags",
                            "mentions",
                            "mention_roles",
                        )
                    }
                }
            ],
        }
        await self._dispatch(self.socket_for(guild), "MESSAGE_CREATE", data)
        return forward_id

    async def user_slash(self, user: FakeUser, name: str, options: dict | None = None, **where):
        """`user` runs /name (see FakeInteractions.user_slash); returns the interaction with the bot's answers."""
        return await self.interactions.user_slash(user, name, options, **where)

    async def redeliver(self, message_id: str) -> None:
        """Dispatch a user's MESSAGE_CREATE once more, as an at-least-once gateway may."""
        [payload] = [p for p in self.events if p["t"] == "MESSAGE_CREATE" and p["d"]["id"] == message_id]
        await self._dispatch(self.socket_for(self.guild_of(payload["d"]["channel_id"])), "MESSAGE_CREATE", payload["d"])

    async def user_reacts(self, user: FakeUser, message: SentMessage, emoji: str, *, removed: bool = False) -> None:
        """Deliver MESSAGE_REACTION_ADD (or _REMOVE) for `user` on one of the bot's messages."""
        data = {
            "user_id": user.id,
            "channel_id": message.channel_id,
            "message_id": message.id,
            "emoji": {"id": None, "name": emoji},
            "type": 0,
            "burst": False,
        }
        guild = self.guild_of(message.channel_id)
        if guild is not None:
            data.update(guild_id=guild.id, member={**self._member_payload(user, guild), "user": user.payload()})
        event = "MESSAGE_REACTION_REMOVE" if removed else "MESSAGE_REACTION_ADD"
        await self._dispatch(self.socket_for(guild), event, data)

    async def wait_for_sent(self, count: int, timeout: float = 10.0) -> list[SentMessage]:
        """Wait until the bot has posted at least `count` messages in all, none still being written."""

        async def enough():
            while len(self.sent) < count or any(m.content.endswith(WRITING_MARK) for m in self.sent):
                self._sent_event.clear()
                await self._sent_event.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.sent

    async def drop_connection(self) -> None:
        """Close the gateway socket as Discord does on an unknown error (4000): the client resumes."""
        await self._live_socket().close(code=4000, message=b"fake restart")
