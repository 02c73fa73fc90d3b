"""Make every user name or id in the conversation log a link to that user's transcript."""

from typing import Any
from urllib.parse import urlencode

from datasette import hookimpl
from markupsafe import Markup

COLUMNS = {"user_name", "user_id", "display_name"}


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any) -> Markup | None:
    if database != "conversation_logs" or column not in COLUMNS or not isinstance(value, str) or not value:
        return None
    href = datasette.urls.path("/conversation_logs/user_history.transcript?" + urlencode({"user": value}))
    return Markup('<a href="{}" title="This user\'s conversations as a transcript">{}</a>').format(href, value)
