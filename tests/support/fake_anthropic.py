"""A loopback Anthropic Messages API for the unmodified `anthropic` SDK.

It checks what the real API checks on our requests (the key, the model, max_tokens,
alternating roles that start with the user) and answers with the real JSON shapes,
including the error envelope and status codes the SDK maps to its exception classes.
Like the API it never writes more output tokens than `max_tokens` (and then says
`stop_reason: "max_tokens"`), sends `request-id`, `x-should-retry` and (on 429 and 529)
`retry-after` with its errors, and bills the prompt cache in `usage` as the API does (fake_cache.py).
tests/test_fake_fidelity_claude.py holds every body and event it emits to the SDK's own types.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re

from aiohttp import web

from tests.support.fake_cache import DEFAULT_TTL, TTL_S, CacheUsage, PromptCache, cache_problem
from tests.support.loopback import serve

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
RETRYABLE = {408, 409, 429, 500, 529}  # the statuses the API marks `x-should-retry: true`
WAITED = {429, 529}  # the statuses the API sends `retry-after` with
DEFAULT_RETRY_AFTER_S = 1  # what the fake says when a test scripts none
MODEL_CREATED_AT = "2025-10-01T00:00:00Z"
_ids = itertools.count(1)


def request_id() -> str:
    return f"req_fake_{next(_ids)}"


def json_response(data: dict, status: int = 200, headers: dict | None = None, rid: str | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(data),
        status=status,
        content_type="application/json",
        headers={"request-id": rid or request_id(), **(headers or {})},
    )


def error_body(status: int, message: str, rid: str) -> dict:
    """The API's error envelope: {"type": "error", "error": {type, message}, "request_id"}."""
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": rid,
    }


def api_error(status: int, message: str, retry_after: float | None = None) -> web.Response:
    rid = request_id()
    headers = {"x-should-retry": "true" if status in RETRYABLE else "false"}
    if status in WAITED:
        headers["retry-after"] = f"{DEFAULT_RETRY_AFTER_S if retry_after is None else retry_after:g}"
    return json_response(error_body(status, message, rid), status, headers, rid)


def usage(input_tokens: int, output_tokens: int, cache: CacheUsage | None = None) -> dict:
    """`usage` as the API reports it, cache fields included (fake_cache.py bills them; none: nothing cached)."""
    cache = cache or CacheUsage(input_tokens, 0, 0, DEFAULT_TTL)
    written = {f"ephemeral_{ttl}_input_tokens": 0 for ttl in TTL_S}
    written[f"ephemeral_{cache.ttl}_input_tokens"] = cache.cache_creation_input_tokens
    return {**delta_usage(input_tokens, output_tokens, cache), "cache_creation": written, "service_tier": "standard"}


def delta_usage(input_tokens: int, output_tokens: int, cache: CacheUsage | None = None) -> dict:
    """`message_delta`'s cumulative usage, as the API sends it."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache.cache_creation_input_tokens if cache else 0,
        "cache_read_input_tokens": cache.cache_read_input_tokens if cache else 0,
        "server_tool_use": None,
    }


def model_info(model: str) -> dict:
    return {"type": "model", "id": model, "display_name": model, "created_at": MODEL_CREATED_AT, "lifecycle": "active"}


def count_tokens(text: str) -> int:
    return max(1, len(text.split()))


IMAGE_TOKENS = 1600  # about what Claude counts for a ~1.15 megapixel image (the documented (w*h)/750)
WORD = re.compile(r"\s*\S+\s*|\s+")  # a "token" of the fake: a word with the spaces around it


def text_of(content: str | list) -> str:
    """The text of a message's content, with each image as a placeholder that names its media type."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if block.get("type") == "image":
            parts.append(f"[{block['source'].get('media_type', 'url')} image]")
        else:
            parts.append(block.get("text", ""))
    return " ".join(parts)


def content_tokens(content: str | list) -> int:
    images = 0 if isinstance(content, str) else sum(block.get("type") == "image" for block in content)
    return count_tokens(text_of(content)) + images * IMAGE_TOKENS


class FakeAnthropic:
    def __init__(self, api_key: str = "sk-ant-test-key"):
        self.api_key = api_key
        self.received: list[dict] = []  # every JSON body POSTed to /v1/messages, refused ones too, in order
        self.requests: list[dict] = []  # the bodies it answered
        self.answered: dict[str, dict] = {}  # the message id it answered with -> that body (the replay tests)
        self.stream_request_ids: dict[str, str] = {}  # message id -> the `request-id` its stream was sent with
        self.failures: list[int | str] = []  # statuses to answer next, or "hang"
        self.retry_after: float | None = None  # what 429 and 529 say in `retry-after` (None: DEFAULT_RETRY_AFTER_S)
        # A refusal: the reply stops after this many words with stop_reason "refusal" (None: no refusal).
        self.refuse_after_words: int | None = None
        # Every (kind, JSON body or SSE event) sent, for tests/test_fake_fidelity_claude.py.
        self.emitted: list[tuple[str, dict]] = []
        self.hits = 0  # requests to /v1/messages
        self.cache = PromptCache(content_tokens)  # bills the cache fields of `usage`; set cache.clock to move time
        self.model_checks = 0  # requests to /v1/models/{id}
        self.known_models: set[str] | None = None  # models /v1/models/{id} knows (None: every claude-* id)
        # Streaming: None sends the whole reply in one text_delta; a number sends that many words per
        # delta, `stream_delay` seconds apart (0.02 s with 1 word per delta is ~50 tokens/s).
        self.words_per_delta: int | None = None
        self.stream_delay = 0.0
        self.fail_after_deltas: int | None = None  # a stream that fails midway: an `error` event after N deltas
        self.first_delta_at: list[float] = []  # loop time each stream's first text_delta was written
        self.streams_done = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> FakeAnthropic:
        app = web.Application()
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_get("/v1/models/{model_id}", self.model)
        self._runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        self._stopping.set()  # releases requests told to hang
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reply_text(self, body: dict) -> str:
        """What "Claude" says: an echo that proves which context it was given."""
        last = body["messages"][-1]["content"]
        return f"Echo #{len(body['messages']) // 2 + 1}: {text_of(last)}"

    def _authorized(self, request: web.Request) -> bool:
        return (
            request.headers.get("Authorization") == f"Bearer {self.api_key}"
            or request.headers.get("x-api-key") == self.api_key
        )

    def knows(self, model: str) -> bool:
        return model.startswith("claude-") and (self.known_models is None or model in self.known_models)

    def _error(self, status: int, message: str) -> web.Response:
        response = api_error(status, message, self.retry_after)
        self.emitted.append(("error", json.loads(response.text)))
        return response

    async def model(self, request: web.Request) -> web.Response:
        """GET /v1/models/{model_id}: the cheap authenticated call the bot makes at start."""
        self.model_checks += 1
        if not self._authorized(request):
            return self._error(401, "invalid x-api-key")
        model_id = request.match_info["model_id"]
        if not self.knows(model_id):
            return self._error(404, f"model: {model_id}")
        info = model_info(model_id)
        self.emitted.append(("model", info))
        return json_response(info)

    async def messages(self, request: web.Request) -> web.Response:
        self.hits += 1
        if not self._authorized(request):
            return self._error(401, "invalid x-api-key")
        body = await request.json()
        self.received.append(body)
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "hang":
                await self._stopping.wait()
                failure = 529  # released at shutdown: the connection ends with an error, as a dying server's would
            return self._error(failure, "fake failure")
        problem = validate(body)
        if problem:
            return self._error(400, problem)
        if not self.knows(body["model"]):
            return self._error(404, f"model: {body['model']}")  # what the API says of an unknown model
        self.requests.append(body)
        text, stop_reason = self._limited(self.reply_text(body), body["max_tokens"])
        billed = self.cache.bill(body)
        message = {
            "id": f"msg_fake_{next(_ids)}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage(billed.input_tokens, len(WORD.findall(text)), billed),
        }
        self.answered[message["id"]] = body
        if body.get("stream"):
            return await self.stream(request, message, billed)
        self.emitted.append(("message", message))
        return json_response(message)

    def _limited(self, text: str, max_tokens: int) -> tuple[str, str]:
        """The reply as the API would end it: a refusal, cut at `max_tokens`, or whole."""
        words = WORD.findall(text)
        if self.refuse_after_words is not None:
            return "".join(words[: self.refuse_after_words]), "refusal"
        if len(words) > max_tokens:
            return "".join(words[:max_tokens]), "max_tokens"
        return text, "end_turn"

    async def stream(self, request: web.Request, message: dict, billed: CacheUsage) -> web.StreamResponse:
        """The Messages API's server-sent events, in the documented order, at the configured pace."""
        self.stream_request_ids[message["id"]] = rid = request_id()
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "request-id": rid}
        )
        await response.prepare(request)
        text = message["content"][0]["text"] if message["content"] else ""
        tokens = message["usage"]

        def send(event: str, data: dict):
            self.emitted.append(("event", data))
            return response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        # Like the API: message_start carries the input tokens and a first output count of 1.
        await send(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    **message,
                    "content": [],
                    "stop_reason": None,
                    "usage": usage(tokens["input_tokens"], 1, billed),
                },
            },
        )
        await send(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        await send("ping", {"type": "ping"})
        for number, delta in enumerate(self._deltas(text)):
            if number == self.fail_after_deltas:
                await send("error", error_body(529, "Overloaded", request_id()))
                return response
            if number == 0:
                self.first_delta_at.append(asyncio.get_running_loop().time())
            elif self.stream_delay:
                await asyncio.sleep(self.stream_delay)
            await send(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": delta}},
            )
        await send("content_block_stop", {"type": "content_block_stop", "index": 0})
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": delta_usage(tokens["input_tokens"], tokens["output_tokens"], billed),
            },
        )
        await send("message_stop", {"type": "message_stop"})
        self.streams_done += 1
        return response

    def _deltas(self, text: str) -> list[str]:
        if not text:
            return []  # a refusal before any word: the block stays empty
        if self.words_per_delta is None:
            return [text]
        words = WORD.findall(text)
        step = self.words_per_delta
        return ["".join(words[i : i + step]) for i in range(0, len(words), step)]


def validate(body: dict) -> str | None:
    if not body.get("model"):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages") or []
    if not messages:
        return "messages: at least one message is required"
    problem = cache_problem(body)
    if problem:
        return problem
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if message.get("role") != expected:
            return f"messages.{index}.role: roles must alternate, starting with user"
        problem = content_problem(f"messages.{index}", message.get("content"))
        if problem:
            return problem
    return None


IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
IMAGE_LIMIT = 5 * 1024 * 1024  # the API's documented maximum per image


def content_problem(where: str, content) -> str | None:
    """What the API would say about a message's content: a non-empty string, or a list of blocks."""
    if isinstance(content, str):
        return None if content.strip() else f"{where}: text content blocks must be non-empty"
    if not isinstance(content, list) or not content:
        return f"{where}.content: Input should be a valid string or list"
    for number, block in enumerate(content):
        if block.get("type") == "text" and not block.get("text", "").strip():
            return f"{where}.content.{number}: text content blocks must be non-empty"
        if block.get("type") == "image":
            source = block.get("source") or {}
            if source.get("type") == "base64":
                if source.get("media_type") not in IMAGE_TYPES:
                    return f"{where}.content.{number}.source.media_type: Input should be one of {sorted(IMAGE_TYPES)}"
                if len(source.get("data", "")) * 3 // 4 > IMAGE_LIMIT:
                    return f"{where}.content.{number}.image.source.base64: image exceeds 5 MB maximum"
            elif source.get("type") != "url":
                return f"{where}.content.{number}.source: Input tag does not match 'base64' or 'url'"
        elif block.get("type") not in ("text", "image"):
            return f"{where}.content.{number}: unknown block type {block.get('type')!r}"
    return None
