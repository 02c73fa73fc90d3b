"""What the exchange cards (templates/_exchange_card.html) need beyond a row: its attachments and cut reply
in words, its ratings and estimated cost, and the URL of its conversation.

The table of conversations, the `conversation` canned query and the row page show the same card; the search
page may too (its template calls `exchange_extras(rows)` and includes the card with `row` and `extras`).
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from datasette import hookimpl

DATABASE = "conversation_logs"
FALLBACK_MODEL = "static_fallback"  # bot/store/exchange.py's FALLBACK_MODEL: costs nothing
PER_TOKEN = 1e6  # model_prices are dollars per million tokens


# Datasette runs each file here alone, by path, and `datasette serve`'s sys.path holds its bin/, not the
# project: with the project on the path, the other files import as the package `plugins`, once a process.
# First on the path, so a copy of plugins/ elsewhere (bench/login.py --before) imports its own files.
PROJECT = str(Path(__file__).resolve().parent.parent)
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)

from plugins import transcript  # noqa: E402 (after the path it needs)


def cut_reason(stop_reason: str | None) -> str:
    """Why the reply is incomplete, in words; the empty string for a whole reply."""
    return transcript.INCOMPLETE_STOPS.get(stop_reason, "")


def money(value: float) -> str:
    """Dollars: cents from a cent up ($0.20, $1,234.50), else four places ($0.0031) so one exchange shows."""
    return f"${value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"${value:.4f}"


@hookimpl
def prepare_jinja2_environment(env) -> None:
    env.filters["attachment_lines"] = transcript.attached
    env.filters["cut_reason"] = cut_reason
    env.filters["money"] = money


@hookimpl
def extra_template_vars(template: str, database: str | None, datasette: Any) -> dict:
    if template == "index.html":
        return {"reading_queries": lambda: reading_queries(datasette)}
    if database != DATABASE:
        return {}

    async def exchange_extras(rows) -> dict:
        return await extras_of(datasette, [dict(row) for row in rows])

    def conversation_href(conversation_id: str) -> str:
        query = urlencode({"conversation_id": conversation_id})
        return datasette.urls.path(f"/{DATABASE}/conversation?{query}")

    return {"exchange_extras": exchange_extras, "conversation_href": conversation_href}


def reading_queries(datasette: Any) -> list[tuple[str, str]]:
    """(name, title) of every canned query of metadata.yml, for the home page's first screen."""
    queries = datasette.metadata("queries", database=DATABASE, fallback=False) or {}
    return [(name, query.get("title") or name) for name, query in queries.items()]


async def extras_of(datasette: Any, rows: list[dict]) -> dict:
    """{row id: {thumbs_up, thumbs_down, cost_usd}}: two small queries for a page of cards."""
    db = datasette.get_database(DATABASE)
    replies = [row["reply_message_id"] for row in rows if row.get("reply_message_id")]
    marks = ", ".join("?" * len(replies))
    rated = await db.execute(
        "select reply_message_id, sum(value > 0), sum(value < 0) from ratings "
        f"where reply_message_id in ({marks}) group by reply_message_id",
        replies,
    )
    votes = {reply: (up, down) for reply, up, down in rated.rows}
    prices = await price_table(db)
    return {
        row.get("id"): {
            "thumbs_up": votes.get(row.get("reply_message_id"), (0, 0))[0],
            "thumbs_down": votes.get(row.get("reply_message_id"), (0, 0))[1],
            "cost_usd": cost(row, prices),
        }
        for row in rows
    }


async def price_table(db) -> dict[str, tuple[list[str], list[tuple[float, float]]]]:
    """Each model's prices by the day they took effect, oldest first (a handful of rows)."""
    table: dict[str, tuple[list[str], list[tuple[float, float]]]] = {}
    result = await db.execute(
        "select model, effective_from, input_per_mtok, output_per_mtok from model_prices order by model, effective_from"
    )
    for model, day, per_input, per_output in result.rows:
        days, rates = table.setdefault(model, ([], []))
        days.append(day)
        rates.append((per_input, per_output))
    return table


def cost(row: dict, prices: dict) -> float | None:
    """Tokens times the price in force on the exchange's UTC day, as the `costs` query prices them; None when
    the model has no price yet (shown as "no price")."""
    if row.get("model_used") == FALLBACK_MODEL:
        return 0.0
    days, rates = prices.get(row.get("model_used"), ([], []))
    at = bisect_right(days, str(row.get("timestamp") or "")[:10]) - 1
    if at < 0:
        return None
    per_input, per_output = rates[at]
    return ((row.get("input_tokens") or 0) * per_input + (row.get("output_tokens") or 0) * per_output) / PER_TOKEN
