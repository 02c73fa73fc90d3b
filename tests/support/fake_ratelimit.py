"""Discord's per-channel message rate limit, as the fake Discord applies it to sends and edits.

Discord answers every limited route with X-RateLimit-Limit, -Remaining, -Reset (epoch seconds),
-Reset-After (seconds) and -Bucket (one hash shared by the routes that share a limit), and, past
the limit, 429 with `retry_after` in the JSON body and a Retry-After header. discord.py reads all
of these; it treats a 429 without a `Via` header as a Cloudflare ban, so the fake sends the one
Discord's edge adds.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

from aiohttp import web

MESSAGES_PER_WINDOW = 5  # sends and edits in one channel ...
WINDOW_S = 5.0  # ... per this many seconds (Discord's documented order of magnitude)
RATE_LIMITED = 0  # the `code` Discord's 429 body carries for a per-route limit (its global limit's too)
MESSAGE_BUCKET = "fake-channel-messages"  # the bucket hash of POST and PATCH on channel messages


@dataclass
class Window:
    reset_at: float  # time.time() when the window's count starts again
    used: int = 0


class ChannelLimits:
    """One fixed window per channel, shared by every send and edit in it."""

    def __init__(self, limit: int = MESSAGES_PER_WINDOW, per: float = WINDOW_S):
        self.limit = limit
        self.per = per
        self.windows: dict[str, Window] = {}
        self.refused = 0  # 429s answered, so a test can see discord.py met (and survived) them

    def take(self, channel_id: str) -> tuple[dict[str, str], web.Response | None]:
        """Count one request; returns the headers for its answer, and the 429 to send instead if over."""
        now = time.time()
        window = self.windows.get(channel_id)
        if window is None or now >= window.reset_at:
            window = self.windows[channel_id] = Window(now + self.per)
        over = window.used >= self.limit
        if not over:
            window.used += 1
        reset_after = max(0.0, window.reset_at - now)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.limit - window.used),
            "X-RateLimit-Reset": f"{window.reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": MESSAGE_BUCKET,
        }
        if not over:
            return headers, None
        self.refused += 1
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(reset_after, 3),
            "global": False,
            "code": RATE_LIMITED,
        }  # the spec's RatelimitedResponse: an Error (code, message) plus the wait
        refusal = web.Response(
            body=json.dumps(body).encode(),
            status=429,
            headers={
                **headers,
                "Content-Type": "application/json",
                "Retry-After": str(math.ceil(reset_after)),
                "X-RateLimit-Scope": "user",
                "Via": "1.1 google",
            },
        )
        return headers, refusal
