"""The canned queries' number parameters (metadata.yml: rated_replies' `page`, user_history's `limit`):
a value that is not a whole number in range gets one line naming it (400).

Datasette answers first, so the login and permissions decide as before (an anonymous visitor still goes
to the login, not to a line that names the query's parameters); only its answer to someone allowed, the
page (200) or its SQL error (400), is replaced by the line.

The SQL casts them (`cast(... as integer)`), so without this `page=abc` or `page=0` showed page 1 and
`limit=abc` no rows at all, without a word, and a 23-digit page said only "datatype mismatch".
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from datasette import hookimpl
from datasette.utils.asgi import Response

DATABASE = "conversation_logs"
CANNED = re.compile(rf"^/{DATABASE}/(?P<query>[^/.]+)(\.[a-z]+)?$")
DIGITS = re.compile(r"[0-9]+")  # ASCII only: "²".isdigit() is True, and int("²") raises
# The highest page: 50 rows a page keeps every offset far below SQLite's 2**63, and 10**12 pages is
# more than any log has (a million rated replies are 20,000 pages).
MAX_PAGE = 10**12


def ranges(datasette) -> dict[str, int]:
    """Each number parameter, with its highest value: a limit is at most a page of rows."""
    return {"page": MAX_PAGE, "limit": int(datasette.setting("max_returned_rows"))}


def problem(name: str, value: str, highest: int) -> str | None:
    if value == "" or (DIGITS.fullmatch(value) and 1 <= int(value) <= highest):
        return None  # empty: the query's own default
    return f"{name}: expected a whole number from 1 to {highest:,}, got {value!r}"


def first_problem(datasette, query: str, query_string: bytes) -> str | None:
    canned = (datasette.metadata("queries", database=DATABASE) or {}).get(query)
    if not isinstance(canned, dict):
        return None
    numbers = {name: top for name, top in ranges(datasette).items() if name in (canned.get("params") or [])}
    args = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    found = (problem(name, value.strip(), numbers[name]) for name, value in args if name in numbers)
    return next((text for text in found if text), None)


REPLACED = (200, 400)  # the answers of an allowed visitor: the page, or the SQL's own error


def refusing_send(send, text: str):
    """A send that turns Datasette's answer into `text` (400) when it is one an allowed visitor gets."""
    replacing = False

    async def refuse(message):
        nonlocal replacing
        if message["type"] == "http.response.start":
            replacing = message["status"] in REPLACED
            if replacing:
                return await Response.text(text + "\n", status=400).asgi_send(send)
        if not replacing:
            await send(message)

    return refuse


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def checked_numbers(scope, receive, send):
            matched = CANNED.match(scope.get("path", "")) if scope["type"] == "http" else None
            text = matched and first_problem(datasette, matched["query"], scope.get("query_string", b""))
            await app(scope, receive, refusing_send(send, text) if text else send)

        return checked_numbers

    return wrap
