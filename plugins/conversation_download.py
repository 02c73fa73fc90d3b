"""`/conversation_logs/conversation.chatjsonl?conversation_id=...`: one conversation downloaded in the bot's
`chat-jsonl` export format (bot/exports/files.py's chat_records, the format `python -m bot export` and
`!export` write), named as those exports are. Offered on the `conversation` canned query only: elsewhere a
page holds at most a page of rows, and the full exports live on the table's export link.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response

DATABASE = "conversation_logs"
QUERY = "conversation"
# Datasette runs each file here alone, by path, and `datasette serve`'s sys.path holds its bin/, not the
# project: with the project on the path, the bot's package imports as usual (when a download asks for it).
PROJECT = str(Path(__file__).resolve().parent.parent)
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)
# As every chat-jsonl export, fallback replies are left out: they are not training data.
ROWS = "select c.* from conversations c where c.conversation_id = ? and c.model_used != ? order by c.timestamp, c.id"


def exports():
    from bot.exports import files
    from bot.store.exchange import FALLBACK_MODEL

    return files, FALLBACK_MODEL


def can_render(query_name: str | None, database: str | None) -> bool:
    return database == DATABASE and query_name == QUERY


async def render(datasette: Any, request: Any) -> Response | dict:
    files, fallback_model = exports()
    conversation_id = request.args.get("conversation_id", "")
    if not conversation_id.strip():
        return refusal("conversation_id is missing: add ?conversation_id=... (a card's link has it)", 400)

    def lines(conn) -> bytes:
        cursor = conn.execute(ROWS, [conversation_id, fallback_model])
        rows = iter([[column[0] for column in cursor.description], *cursor.fetchall()])
        return b"".join(files.chat_records(rows))

    body = await datasette.get_database(DATABASE).execute_fn(lines)
    if not body:
        return refusal(f"No conversation has conversation_id {conversation_id!r} outside fallbacks", 404)
    name = files.export_filename("chat-jsonl")
    return Response(
        body,
        content_type="application/jsonl; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def refusal(line: str, status: int) -> dict:
    """A renderer's Response keeps the query's 200; Datasette takes the status of a dict."""
    return {"body": line + "\n", "status_code": status, "content_type": "text/plain; charset=utf-8"}


@hookimpl
def register_output_renderer(datasette: Any) -> dict:
    return {"extension": "chatjsonl", "render": render, "can_render": can_render}
