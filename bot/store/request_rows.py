"""The rows of the `requests` export: each selected exchange with its system prompt's text and the
exchanges it sent as context (bot/store/request_record.py), read within the export's scope."""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlite_utils import Database

from bot.store.exchange import Row
from bot.store.export_sql import Selection
from bot.store.migrations import TABLE

CONTEXT_COLUMNS = "c.message_id, c.user_message, c.attachments, c.bot_response"


def request_rows(db: Database, selection: Selection) -> Iterator[Row]:
    """Each selected row in id order, plus `system_prompt_text`, `context` (the context's rows found, in the
    order sent) and `context_missing` (the message ids not found: deleted, or outside the scope)."""
    where, params = selection.where()
    scope_sql, scope_params = selection.scope.where()
    context_sql = (
        f"select {CONTEXT_COLUMNS} from {TABLE} c where c.message_id in (select value from json_each(:ids)) "
        f"and {scope_sql}"
    )
    rows = db.query(
        f"select c.*, p.text as system_prompt_text from {TABLE} c left join system_prompts p "
        f"on p.id = c.system_prompt_id where {where} order by c.id",
        params,
    )
    for row in rows:
        ids = json.loads(row["context_message_ids"] or "[]")
        found = (
            {r["message_id"]: r for r in db.query(context_sql, {**scope_params, "ids": json.dumps(ids)})} if ids else {}
        )
        row["context"] = [found[i] for i in ids if i in found]
        row["context_missing"] = [i for i in ids if i not in found]
        yield row
