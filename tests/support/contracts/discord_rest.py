"""Discord's REST contract, as the fakes keep it: each request body is validated against the route's
requestBody schema in discord-openapi-subset.json (OpenAPI 3.1, i.e. JSON Schema 2020-12), and refused
as Discord refuses it (400, code 50035 "Invalid Form Body", an `errors` object naming the field).
Responses can be checked against the route's response schemas too (the fake-fidelity tests do)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

API_PREFIX = "/api/v10"
SUBSET_PATH = Path(__file__).with_name("discord-openapi-subset.json")
SPEC_URI = "urn:discord-openapi-subset"
INVALID_FORM_BODY = 50035
INVALID_JSON = 50109
# Limits Discord's documentation states and the spec leaves out: "Description for CHAT_INPUT commands,
# 1-100 characters" (application-commands.mdx); the spec gives only the 100. JSON pointer -> keywords.
DOCS_OVERLAY = {"/components/schemas/ApplicationCommandUpdateRequest/properties/description": {"minLength": 1}}
# Discord reads a snowflake in a request body as a string or an integer (discord.py sends
# message_reference's ids as integers, and Discord has accepted them for years); it always answers strings.
REQUEST_SNOWFLAKE = {
    "anyOf": [{"type": "string", "pattern": "^(0|[1-9][0-9]*)$"}, {"type": "integer", "minimum": 0}],
    "format": "snowflake",
}


def template_key(path: str) -> str:
    """A path template with its parameter names blanked, so /a/{app_id} matches /a/{application_id}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


@lru_cache(maxsize=1)
def spec() -> dict:
    data = json.loads(SUBSET_PATH.read_text())
    for where, keywords in DOCS_OVERLAY.items():
        node = data
        for part in where.strip("/").split("/"):
            node = node[part]
        node.update(keywords)
    return data


@lru_cache(maxsize=2)
def registry(request: bool) -> Registry:
    data = spec()
    if request:
        data = {
            **data,
            "components": {
                **data["components"],
                "schemas": {**data["components"]["schemas"], "SnowflakeType": REQUEST_SNOWFLAKE},
            },
        }
    return Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(data))


@cache
def validator(at: str, request: bool = False) -> Draft202012Validator:
    """A validator for the schema at JSON pointer `at` of the subset (of a request: snowflakes may be ints)."""
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{at}"}, registry=registry(request))


@lru_cache(maxsize=1)
def path_patterns() -> list[tuple[re.Pattern, str]]:
    """Each spec path as a regular expression, the ones with fewer parameters first (@original before {id})."""
    paths = sorted(spec()["paths"], key=lambda p: p.count("{"))
    return [
        (
            re.compile(
                "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]*\})", path))
                + "$"
            ),
            path,
        )
        for path in paths
    ]


def spec_path(request_path: str) -> str | None:
    """The spec's path template for a request's path (without /api/v10), or None if Discord has no such route."""
    return next((path for pattern, path in path_patterns() if pattern.match(request_path)), None)


# -- Discord's field errors -----------------------------------------------------------------------


def _length_error(error: ValidationError) -> tuple[str, str]:
    low, high = error.schema.get("minLength"), error.schema.get("maxLength")
    if low is not None and high is not None:
        return "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length."
    if high is not None:
        return "BASE_TYPE_MAX_LENGTH", f"Must be {high} or fewer in length."
    return "BASE_TYPE_MIN_LENGTH", f"Must be {low} or more in length."


def _field_error(error: ValidationError) -> tuple[str, str]:
    """Discord's code and message for one schema violation (the wording its API uses)."""
    kind = error.validator
    if kind in ("minLength", "maxLength"):
        return _length_error(error)
    if kind == "required":
        return "BASE_TYPE_REQUIRED", "This field is required"
    if kind == "maxItems":
        return "BASE_TYPE_MAX_LENGTH", f"Must be {error.validator_value} or fewer in length."
    if kind == "minItems":
        return "BASE_TYPE_MIN_LENGTH", f"Must be {error.validator_value} or more in length."
    if kind in ("enum", "const"):
        return "BASE_TYPE_CHOICES", f"Value must be one of {error.validator_value}."
    if kind == "minimum":
        return "NUMBER_TYPE_MIN", f"Value should be greater than or equal to {error.validator_value}."
    if kind == "maximum":
        return "NUMBER_TYPE_MAX", f"Value should be less than or equal to {error.validator_value}."
    if kind == "pattern":
        return "NUMBER_TYPE_COERCE", f'Value "{error.instance}" is not snowflake.'
    if kind == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return "BASE_TYPE_INVALID", f"Must be of type {' or '.join(kinds)}."
    if kind == "uniqueItems":
        return "SET_TYPE_ALREADY_CONTAINS_VALUE", "The set already contains this value."
    return "BASE_TYPE_INVALID", error.message


def _alternative(errors: list[ValidationError]) -> list[ValidationError]:
    """Of a oneOf/anyOf's failed alternatives, the one meant: its discriminator (`type`) matched, and
    it failed least. Discord reports the fields of the option type that was sent, not of all eleven."""
    by_branch: dict = {}
    for error in errors:
        by_branch.setdefault(error.schema_path[0] if error.schema_path else None, []).append(error)

    def wrong_kind(error: ValidationError) -> bool:
        """The branch is for another kind of thing: its `type` field, or the JSON type itself, differs."""
        return list(error.relative_path) == ["type"] or (error.validator == "type" and not error.relative_path)

    return min(by_branch.values(), key=lambda branch: (any(map(wrong_kind, branch)), len(branch)))


def _leaves(error: ValidationError) -> list[ValidationError]:
    if error.validator in ("oneOf", "anyOf") and error.context:
        return [leaf for sub in _alternative(error.context) for leaf in _leaves(sub)]
    if error.validator == "allOf" and error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _where(error: ValidationError) -> list[str]:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":  # the missing field, named like Discord does
        path.append(re.match(r"'([^']*)'", error.message).group(1))
    return path


def field_errors(at: str, instance) -> dict:
    """Discord's `errors` object for a request body `instance` against the schema at `at`: {} if valid."""
    errors: dict = {}
    for error in validator(at, request=True).iter_errors(instance):
        for leaf in _leaves(error):
            node = errors
            for part in _where(leaf):
                node = node.setdefault(part, {})
            code, message = _field_error(leaf)
            node.setdefault("_errors", []).append({"code": code, "message": message})
    return errors


def discord_error(status: int, code: int, message: str, errors: dict | None = None) -> web.Response:
    body = {"code": code, "message": message, **({"errors": errors} if errors else {})}
    return web.Response(body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"})


def invalid_form_body(errors: dict) -> web.Response:
    return discord_error(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


# -- request bodies ---------------------------------------------------------------------------------


async def read_body(request: web.Request) -> tuple[dict | list | None, dict[str, bytes]]:
    """A request's JSON (or multipart `payload_json`) and its files; parsed once, so the handler can
    read it again (aiohttp caches read() and post())."""
    if request.content_type == "multipart/form-data":
        form = await request.post()
        payload, files = None, {}
        for name, value in form.items():
            if name == "payload_json":
                payload = json.loads(value if isinstance(value, str) else value.file.read())
            elif hasattr(value, "file"):
                value.file.seek(0)
                files[value.filename] = value.file.read()
        return payload, files
    raw = await request.read()
    return (json.loads(raw) if raw else None), {}


def request_errors(path: str, method: str, op: dict, content_type: str, body) -> dict:
    media = op.get("requestBody", {}).get("content", {})
    chosen = content_type if content_type in media else "application/json"
    if body is None or chosen not in media:
        return {}
    return field_errors(pointer("paths", path, method, "requestBody", "content", chosen, "schema"), body)


# -- responses --------------------------------------------------------------------------------------


def response_pointer(path: str, method: str, status: int) -> str | None:
    """Where the schema of a `status` answer is; None when the spec lists no such answer."""
    responses = spec()["paths"][path][method]["responses"]
    key = next((k for k in (str(status), f"{str(status)[0]}XX") if k in responses), None)
    if key is None:
        return None
    answer = responses[key]
    if "$ref" in answer:
        name = answer["$ref"].rsplit("/", 1)[1]
        return pointer("components", "responses", name, "content", "application/json", "schema")
    if "content" not in answer:
        return ""  # an answer without a body (204)
    return pointer("paths", path, method, "responses", key, "content", "application/json", "schema")


def response_problems(path: str, method: str, status: int, body: bytes) -> list[str]:
    at = response_pointer(path, method, status)
    if at is None:
        return [f"{method.upper()} {path}: the spec lists no {status} answer"]
    if at == "":
        return [] if not body else [f"{method.upper()} {path}: a {status} answer has no body"]
    return [
        f"{method.upper()} {path} {status}: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in validator(at).iter_errors(json.loads(body))
    ]


@dataclass
class DiscordContract:
    """The fake's contract layer: an aiohttp middleware in front of every /api/v10 route."""

    check_responses: bool = False  # the fake-fidelity tests turn it on; it costs a validation per answer
    violations: list[str] = field(default_factory=list)  # response problems found while checking
    checked: set[tuple[str, str, int]] = field(default_factory=set)  # (method, spec path, status) seen

    @web.middleware
    async def middleware(self, request: web.Request, handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        path = spec_path(request.path[len(API_PREFIX) :])
        if path is None:  # what Discord answers for a route it does not have, or a wrong method
            return discord_error(404, 0, "404: Not Found")
        op = spec()["paths"][path].get(request.method.lower())
        if op is None:
            return discord_error(405, 0, "405: Method Not Allowed")
        refusal = await self._refusal(request, path, op)
        if refusal is not None:
            return refusal
        response = await handler(request)
        if self.check_responses:
            self._check(path, request.method.lower(), response)
        return response

    async def _refusal(self, request: web.Request, path: str, op: dict) -> web.Response | None:
        try:
            body, _files = await read_body(request)
        except ValueError:
            return discord_error(400, INVALID_JSON, "The request body contains invalid JSON.")
        errors = request_errors(path, request.method.lower(), op, request.content_type, body)
        return invalid_form_body(errors) if errors else None

    def _check(self, path: str, method: str, response: web.StreamResponse) -> None:
        self.checked.add((method, path, response.status))
        body = response.body if isinstance(response, web.Response) else b""
        self.violations.extend(response_problems(path, method, response.status, body or b""))


# -- gateway payloads (not in the OpenAPI spec: Discord's docs, gateway-events.mdx) ---------------------

SCHEMAS = "/components/schemas/"
# The REST objects the gateway events carry, so the extraction keeps them in the subset.
GATEWAY_OBJECTS = (
    "UserResponse",
    "GuildResponse",
    "GuildMemberResponse",
    "GuildChannelResponse",
    "GuildRoleResponse",
    "ThreadResponse",
    "MessageResponse",
)
READY_FIELDS = ("v", "user", "guilds", "session_id", "resume_gateway_url", "application")
# GUILD_CREATE: "an available Guild object" plus these extra fields.
GUILD_CREATE_EXTRAS = (
    "joined_at",
    "large",
    "member_count",
    "voice_states",
    "members",
    "channels",
    "threads",
    "presences",
    "stage_instances",
    "guild_scheduled_events",
    "soundboard_sounds",
)


def object_problems(name: str, instance, where: str) -> list[str]:
    return [
        f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in validator(SCHEMAS + name).iter_errors(instance)
    ]


def missing(data: dict, fields: tuple[str, ...], where: str) -> list[str]:
    return [f"{where}: lacks {name!r}" for name in fields if name not in data]


def _message_problems(event: str, data: dict) -> list[str]:
    """A message event: a Message object; its author's `member` and each mention's `member` are partial
    guild members (without `user`), checked with the user they belong to."""
    body = {k: v for k, v in data.items() if k not in ("guild_id", "member", "mentions")}
    problems = object_problems("MessageResponse", {**body, "mentions": []}, event)
    if "member" in data:
        author_member = {**data["member"], "user": data["author"]}
        problems += object_problems("GuildMemberResponse", author_member, f"{event} member")
    for user in data.get("mentions", []):
        plain = {k: v for k, v in user.items() if k != "member"}
        problems += object_problems("UserResponse", plain, f"{event} mention")
        if "member" in user:
            problems += object_problems("GuildMemberResponse", {**user["member"], "user": plain}, f"{event} mention")
    return problems


def _guild_problems(data: dict) -> list[str]:
    plain = {k: v for k, v in data.items() if k not in GUILD_CREATE_EXTRAS}
    problems = object_problems("GuildResponse", plain, "GUILD_CREATE")
    problems += missing(data, GUILD_CREATE_EXTRAS, "GUILD_CREATE")
    for member in data.get("members", []):
        problems += object_problems("GuildMemberResponse", member, "GUILD_CREATE member")
    for channel in data.get("channels", []):
        problems += object_problems("GuildChannelResponse", {**channel, "guild_id": data["id"]}, "GUILD_CREATE channel")
    for thread in data.get("threads", []):  # the active threads the bot can see
        problems += object_problems("ThreadResponse", thread, "GUILD_CREATE thread")
    return problems


def gateway_problems(event: str, data: dict) -> list[str]:
    """What a dispatch lacks or gets wrong, by Discord's docs for that event ([] for events not covered)."""
    if event == "READY":
        return missing(data, READY_FIELDS, "READY") + object_problems("UserResponse", data["user"], "READY user")
    if event == "GUILD_CREATE":
        return _guild_problems(data)
    if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
        return _message_problems(event, data)
    if event == "THREAD_CREATE":  # a thread channel, plus `newly_created` when it was just made
        return object_problems("ThreadResponse", {k: v for k, v in data.items() if k != "newly_created"}, event)
    if event == "INTERACTION_CREATE":
        if "member" in data:  # in a server: the member, with `user` and its `permissions` there
            return object_problems("GuildMemberResponse", data["member"], f"{event} member")
        return object_problems("UserResponse", data["user"], f"{event} user")
    return []
