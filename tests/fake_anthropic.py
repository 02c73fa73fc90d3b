"""A loopback Anthropic Messages API for the unmodified `anthropic` SDK.

It checks what the real API checks on our requests (the key, the model, max_tokens,
alternating roles that start with the user) and answers with the real JSON shapes,
including the error envelope and status codes the SDK maps to its exception classes.
"""

from __future__ import annotations

import asyncio
import itertools
import json

from aiohttp import web

from tests.loopback import serve

ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
}
_ids = itertools.count(1)


def json_response(data: dict, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json",
                        headers={"request-id": f"req_fake_{next(_ids)}"})


def api_error(status: int, message: str) -> web.Response:
    kind = ERROR_TYPES.get(status, "api_error")
    return json_response({"type": "error", "error": {"type": kind, "message": message}}, status)


def count_tokens(text: str) -> int:
    return max(1, len(text.split()))


class FakeAnthropic:
    def __init__(self, api_key: str = "sk-ant-test-key"):
        self.api_key = api_key
        self.requests: list[dict] = []
        self.failures: list[int | str] = []  # statuses to answer next, or "hang"
        self.hits = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> "FakeAnthropic":
        app = web.Application()
        app.router.add_post("/v1/messages", self.messages)
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
        return f"Echo #{len(body['messages']) // 2 + 1}: {last}"

    async def messages(self, request: web.Request) -> web.Response:
        self.hits += 1
        if request.headers.get("Authorization") != f"Bearer {self.api_key}" and \
                request.headers.get("x-api-key") != self.api_key:
            return api_error(401, "invalid x-api-key")
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "hang":
                await self._stopping.wait()
            return api_error(failure, "fake failure")
        body = await request.json()
        problem = validate(body)
        if problem:
            return api_error(400, problem)
        self.requests.append(body)
        text = self.reply_text(body)
        input_tokens = sum(count_tokens(m["content"]) for m in body["messages"]) + count_tokens(body.get("system", ""))
        return json_response({
            "id": f"msg_fake_{next(_ids)}", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": count_tokens(text)},
        })


def validate(body: dict) -> str | None:
    if not body.get("model"):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages") or []
    if not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if message.get("role") != expected:
            return f"messages.{index}.role: roles must alternate, starting with user"
        if not str(message.get("content", "")).strip():
            return f"messages.{index}: text content blocks must be non-empty"
    return None
