"""When the responder tries Claude again: as the SDK would (its own retries are off, see responder.py)."""

from __future__ import annotations

import anthropic
import httpx2

# Between retries without a `retry-after`: the SDK's own backoff (anthropic/_constants.py), 0.5 s doubling to 8 s.
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 8.0
RETRYABLE_STATUSES = {408, 409, 429}  # and every 5xx: the statuses the SDK itself retries


def retry_wait(err: Exception, retry: int) -> float | None:
    """Seconds to wait before trying again, as the SDK would (retry-after, else backoff); None: do not retry."""
    if isinstance(err, anthropic.APIStatusError):
        headers = err.response.headers
        should = headers.get("x-should-retry")
        if should == "false" or (
            should != "true" and err.status_code not in RETRYABLE_STATUSES and err.status_code < 500
        ):
            return None
        for name, scale in (("retry-after-ms", 1000), ("retry-after", 1)):
            try:
                return max(0.0, float(headers[name]) / scale)
            except (KeyError, ValueError):
                pass
    elif not isinstance(err, (anthropic.APIConnectionError, httpx2.TransportError)):
        return None
    return min(FIRST_BACKOFF_S * 2.0**retry, MAX_BACKOFF_S)  # a float power: int ** int is typed Any
