"""Stream the full conversations CSV in id order, the order !export uses.

The table page is newest first (sort_desc: id in metadata.yml), but Datasette pages a
descending sort with `id < :p or id is null`, which defeats the rowid range search:
at 200k rows the streamed CSV took 19.1 s that way against 11.4 s in id order.
Only the default sort is replaced; a sort the user chose is kept.
"""

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl

STREAMED_CSV = "/conversation_logs/conversations.csv"
DEFAULT_SORT = ("_sort_desc", "id")
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def in_id_order(query_string: bytes) -> bytes:
    params = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    if ("_stream", "on") not in params and ("_stream", "1") not in params:
        return query_string
    if any(key in ("_sort", "_sort_desc") and (key, value) != DEFAULT_SORT for key, value in params):
        return query_string
    params = [p for p in params if p != DEFAULT_SORT] + [("_sort", "id")]
    return urlencode(params).encode("latin-1")


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    def wrap(app: ASGIApp) -> ASGIApp:
        async def stream_in_id_order(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope.get("path") == STREAMED_CSV:
                scope = {**scope, "query_string": in_id_order(scope.get("query_string", b""))}
            await app(scope, receive, send)

        return stream_in_id_order

    return wrap
