"""A real Datasette process, reached over HTTP as a visitor would: wait for it, then log in through the form."""

from __future__ import annotations

import asyncio
import time

import aiohttp

ANSWER_TIMEOUT_S = 60  # `python -m bot migrate` and Datasette's start on a machine shared by ~8 test runs


async def first_status(base: str, path: str = "/-/login", timeout: float = ANSWER_TIMEOUT_S) -> int:
    """The first HTTP status the server gives for `path`, once it listens."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(base + path, allow_redirects=False) as response:
                    return response.status
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"nothing answered on {base} within {timeout:g} s") from None
            await asyncio.sleep(0.2)


async def logged_in_status(base: str, password: str, page: str = "/conversation_logs/stats.json") -> int:
    """Log in through /-/login's form (CSRF token included), then the status of `page` with the cookie."""
    # unsafe: keep cookies set by an IP address (127.0.0.1), which aiohttp's jar drops by default
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(base + "/-/login") as form:
            token = form.cookies["ds_csrftoken"].value
        login = {"username": "admin", "password": password, "csrftoken": token}
        async with session.post(base + "/-/login", data=login, allow_redirects=False) as answer:
            assert answer.status == 302 and "ds_actor" in answer.cookies, await answer.text()
        async with session.get(base + page, allow_redirects=False) as response:
            return response.status
