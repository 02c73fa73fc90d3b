"""Export as one obvious link: every row the table page's filters and search select, streamed as CSV.

Datasette's "CSV" link gives the first page (1,000 rows), shown in the browser, without a word; the full
export hides behind "(advanced)". The table page (templates/table-conversation_logs-conversations.html) and
the search page show one link to `_stream=on` (allow_csv_stream is on: every page of rows, not one), and
the download is named with the day it was made, `conversations-2026-11-29.csv`, not `conversations.csv`.
"""

import datetime
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
# Paging and format arguments of the page, which the download replaces with its own.
PAGE_ONLY = {"_next", "_size", "_stream", "_dl", "_labels", "_nocount", "_facet", "_facet_array", "_facet_date"}
DOWNLOAD = [("_stream", "on"), ("_size", "max"), ("_dl", "on")]


def export_url(datasette, database: str, table: str, query_string: str) -> str:
    """The streamed CSV download of every row the page with `query_string` selects."""
    kept = [(key, value) for key, value in parse_qsl(query_string, keep_blank_values=True) if key not in PAGE_ONLY]
    return datasette.urls.table(database, table, format="csv") + "?" + urlencode(kept + DOWNLOAD)


def dated(disposition: bytes, today: datetime.date) -> bytes:
    """Datasette's `attachment; filename="conversations.csv"` with the day: conversations-2026-11-29.csv."""
    return disposition.replace(b'.csv"', f'-{today.isoformat()}.csv"'.encode(), 1)


def dating_send(send):
    async def send_dated(message):
        if message["type"] == "http.response.start":
            headers = [
                (key, dated(value, datetime.datetime.now(datetime.UTC).date()))
                if key.lower() == b"content-disposition"
                else (key, value)
                for key, value in message.get("headers", [])
            ]
            message = {**message, "headers": headers}
        await send(message)

    return send_dated


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    def wrap(app: ASGIApp) -> ASGIApp:
        async def dated_downloads(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope.get("path", "").endswith(".csv") and b"_dl=" in scope["query_string"]:
                send = dating_send(send)
            await app(scope, receive, send)

        return dated_downloads

    return wrap


@hookimpl
def extra_template_vars(datasette, view_name, database, table, request):
    if view_name != "table" or table is None or request is None:  # a canned query is a "table" view without one
        return {}
    return {"export_all_url": export_url(datasette, database, table, request.query_string)}
