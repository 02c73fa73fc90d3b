"""Figures in the HTML of the canned queries and tables read as figures: 29,449,880 tokens, $0.20, 1,234 ms.

Keyed to the column names the queries of metadata.yml use; render_cell changes the HTML only, never the JSON
or CSV, which keep the raw numbers.
"""

from __future__ import annotations

from typing import Any

from datasette import hookimpl

DATABASE = "conversation_logs"
COUNTS = {
    "conversations",
    "total_conversations",
    "unique_users",
    "last_24_hours",
    "opted_out_users",
    "rated_replies",
    "replies_rated_up",
    "tokens",
    "total_tokens",
    "tokens_used",
    "input_tokens",
    "output_tokens",
    "thumbs_up",
    "thumbs_down",
    "score",
}
DURATIONS_MS = {"latency_ms"}
MONEY_SUFFIX = "_usd"  # estimated_usd, last_24_hours_usd: dollars


@hookimpl
def render_cell(value: Any, column: str, database: str) -> str | None:
    if database != DATABASE or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if column.endswith(MONEY_SUFFIX):
        return f"${value:,.2f}"
    if column in COUNTS:
        return f"{value:,}"
    if column in DURATIONS_MS:
        return f"{value:,} ms"
    return None
