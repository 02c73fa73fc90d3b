"""The conversations page shows 20 cards unless `?_size=` asks for another number (up to 1,000).

A screen holds about four cards, and the page's cost grows with its rows: at a million rows, 100 cards took
88 ms in-process against 14 ms for 20 (Datasette formats every cell of every row for any HTML page; see
BENCHMARKS.md). Only the HTML page: `.json`, `.csv` and the Notebook keep Datasette's 100 (their paths have
an extension), and the CSV links ask for `_size=max` themselves. The page's next link carries `_size=20`.
A visitor sent to the login first comes back to the URL as asked, which then gets its 20 cards.
"""

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from datasette import hookimpl

CARDS_PER_PAGE = 20
ON = {"1", "true", "yes", "on"}  # plugins/login.py's ON


def is_on(value: Any) -> bool:
    return str(value or "").strip().lower() in ON


ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def with_card_page(query_string: bytes) -> bytes:
    if any(key == "_size" for key, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)):
        return query_string
    return query_string + (b"&" if query_string else b"") + f"_size={CARDS_PER_PAGE}".encode()


def may_be_served(datasette: Any, scope: dict[str, Any]) -> bool:
    """Whether the page will be shown rather than sent to the login (plugins/login.py's rule: a login is
    required when require_login is on and public is not): the login's `next` keeps the URL as asked."""
    config = datasette.plugin_config("conversation-log") or {}
    required = is_on(config.get("require_login")) and not is_on(config.get("public"))
    cookies = b";".join(value for key, value in scope.get("headers", []) if key.lower() == b"cookie")
    return not required or b"ds_actor=" in cookies


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    page = datasette.urls.path("/conversation_logs/conversations")

    def wrap(app: ASGIApp) -> ASGIApp:
        async def card_page(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope.get("path") == page and may_be_served(datasette, scope):
                scope = {**scope, "query_string": with_card_page(scope.get("query_string", b""))}
            await app(scope, receive, send)

        return card_page

    return wrap
