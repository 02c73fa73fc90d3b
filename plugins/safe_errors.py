"""Clean error pages: a 404 is a 404, an unknown method a 405, and no traceback reaches the log.

Datasette 0.65's own handle_exception prints each error with `rich` when it is installed (we install it),
outside any `except` block: rich then raises, and a plain 404 such as /db/table/-/nope became a 500 with a
~2.8 KB traceback. Its views also answer a method they have no handler for (TRACE, PROPFIND) with a 500.
This plugin renders errors itself, as Datasette does minus rich, and refuses unknown methods up front.
"""

from __future__ import annotations

import sys

from datasette import hookimpl
from datasette.utils import add_cors_headers
from datasette.utils.asgi import Base400, Response
from datasette.utils.sqlite import sqlite3  # pysqlite3 where it imports, as Datasette itself
from datasette.views.base import DatasetteError
from markupsafe import Markup

# The methods Datasette's views answer (a view without its own handler answers 405 itself).
KNOWN_METHODS = {"GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"}
# Errors Datasette 0.65 raises with its default status 500 although the URL caused them (views/table.py):
# the start of its message, and the one line we answer with 400 instead.
CLIENT_ERRORS = {
    "Cannot sort table by ": "_sort / _sort_desc: {message}: name a column of this table",
    "Cannot use _sort and _sort_desc at the same time": "_sort / _sort_desc: {message}: give only one of them",
}


def client_error(exception: DatasetteError) -> str | None:
    """The 400 line for a DatasetteError that a bad URL caused, or None when it is not one of them."""
    if exception.status != 500 or exception.message_is_html:
        return None
    for start, line in CLIENT_ERRORS.items():
        if str(exception.message).startswith(start):
            return line.format(message=exception.message)
    return None


def status_and_info(exception: Exception) -> tuple[int, dict, str | None]:
    """(status, the error's JSON fields, title), as Datasette's own handler decides them."""
    if isinstance(exception, Base400):
        return exception.status, {"error": exception.args[0] if exception.args else ""}, None
    if isinstance(exception, sqlite3.Warning):  # pysqlite3: "You can only execute one statement at a time"
        return 400, {"error": str(exception)}, "Bad request"  # (Python 3.11's sqlite3: a DatabaseError, a 400)
    if isinstance(exception, DatasetteError) and (line := client_error(exception)):
        return 400, {"error": line}, "Bad request"
    if isinstance(exception, DatasetteError):
        message = Markup(exception.message) if exception.message_is_html else exception.message
        return exception.status, {**exception.error_dict, "error": message}, exception.title
    return 500, {"error": str(exception)}, None


async def error_response(datasette, request, exception: Exception) -> Response:
    status, info, title = status_and_info(exception)
    if status >= 500:  # one line: enough to find it, no locals of the request in the log
        print(
            f"datasette: {status} on {request.method} {request.path}: {type(exception).__name__}: {exception}",
            file=sys.stderr,
        )
    info.update({"ok": False, "status": status, "title": title})
    headers: dict[str, str] = {}
    if datasette.cors:
        add_cors_headers(headers)
    if request.path.split("?")[0].endswith(".json"):
        return Response.json(info, status=status, headers=headers)
    template = datasette.jinja_env.select_template([f"{status}.html", "error.html"])
    context = dict(info, urls=datasette.urls, app_css_hash=datasette.app_css_hash(), menu_links=list)
    return Response.html(await template.render_async(context), status=status, headers=headers)


@hookimpl(wrapper=True)
def handle_exception(datasette, request, exception):
    yield  # the other handlers' answers are dropped: Datasette's own would run rich, and its answer is ours
    return [error_response(datasette, request, exception)]


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def known_methods_only(scope, receive, send):
            if scope["type"] == "http" and scope["method"] not in KNOWN_METHODS:
                response = Response.text("Method not allowed", status=405, headers={"Allow": "GET, HEAD, POST"})
                return await response.asgi_send(send)
            await app(scope, receive, send)

        return known_methods_only

    return wrap
