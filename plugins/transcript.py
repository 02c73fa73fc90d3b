"""`.transcript`: any rows with user_message and bot_response, rendered as a readable chat.

Works on the table (with its filters and search), a row, and the user_history canned query:
Datasette links "transcript" beside json and csv wherever the columns fit.

With BOT_KEEP_ATTACHMENTS on, an owner (an account of datasette-auth-passwords, logged in) sees each kept
image as a thumbnail, fetched from /-/attachments/SHA256 (attachment_bytes.py), which nobody else can fetch.
"""

import json
import sys
from pathlib import Path

from datasette import hookimpl
from datasette.utils.asgi import Response

# Datasette runs each file here alone, by path, and `datasette serve`'s sys.path holds its bin/, not the
# project: with the project on the path, the other files import as the package `plugins`, once a process.
# First on the path, so a copy of plugins/ elsewhere (bench/login.py --before) imports its own files.
PROJECT = str(Path(__file__).resolve().parent.parent)
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)

from plugins import attachment_bytes as kept  # noqa: E402 (after the path it needs)

# Claude's stop reasons that leave a reply incomplete: bot/store/exchange.py's INCOMPLETE_STOPS (the plugin
# loads without the bot's package; tests/test_claude_exports.py checks the two agree).
INCOMPLETE_STOPS: dict[str | None, str] = {
    "max_tokens": "cut at the length limit",
    "model_context_window_exceeded": "cut at the context window",
    "refusal": "refused by the model",
}

TEMPLATE = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block extra_head %}
<style>
  .transcript { max-width: 46rem; }
  .turn { margin: 0.6rem 0; padding: 0.6rem 0.9rem; border-radius: 0.8rem; white-space: pre-wrap;
          overflow-wrap: anywhere; }
  .turn.user { background: #e8f0fe; margin-right: 4rem; }
  .turn.bot { background: #f1f3f4; margin-left: 4rem; }
  .turn .meta { display: block; font-size: 0.8em; color: #555; margin-bottom: 0.25rem; white-space: normal; }
  .turn .meta.fallback, .turn .meta.cut { color: #a50e0e; }
  .turn img.thumb { display: block; max-width: 12rem; max-height: 12rem; margin-top: 0.3rem; }
</style>
{% endblock %}
{% block content %}
<h1>{{ title }}</h1>
<p><a href="{{ back_url }}">Back to the table view</a> · {{ exchanges|length }} exchange{{ "" if exchanges|length == 1 else "s" }}, oldest first</p>
<div class="transcript">
{% for e in exchanges %}
  <div class="turn user"><span class="meta">{{ e.display_name or e.user_name or e.user_id }} · {{ e.timestamp }} UTC</span>{{ e.user_message }}{% for a in e.attached %}
    <span class="meta attachment">📎 {{ a }}</span>{% endfor %}{% for t in e.thumbs %}
    <img class="thumb" src="{{ t.url }}" alt="{{ t.name }}" loading="lazy">{% endfor %}</div>
  <div class="turn bot"><span class="meta{% if e.model_used == 'static_fallback' %} fallback{% endif %}{% if e.cut %} cut{% endif %}">bot · {{ e.model_used }} · {{ e.tokens_used or 0 }} tokens{% if e.cut %} · {{ e.cut }}{% endif %}</span>{{ e.bot_response }}</div>
{% else %}
  <p>No conversations here.</p>
{% endfor %}
</div>
{% endblock %}
"""  # noqa: E501  (a line break inside a turn would show: the turns are white-space: pre-wrap)


def can_render(columns):
    return {"user_message", "bot_response"} <= set(columns or [])


async def render(datasette, request, rows, columns):
    exchanges = sorted(({**dict(zip(columns, row, strict=True)), "attached": []} for row in rows), key=oldest_first)
    for exchange in exchanges:
        exchange["attached"] = attached(exchange.get("attachments"))
        exchange["cut"] = INCOMPLETE_STOPS.get(exchange.get("stop_reason"), "")
    await kept.add_thumbnails(datasette, request, exchanges)
    people = {e.get("display_name") or e.get("user_name") for e in exchanges}
    title = f"Conversations of {people.pop()}" if len(people) == 1 else "Conversations"
    back_url = request.path.rsplit(".transcript", 1)[0] + (f"?{request.query_string}" if request.query_string else "")
    template = datasette.jinja_env.from_string(TEMPLATE)
    html = await datasette.render_template(
        template, {"title": title, "exchanges": exchanges, "back_url": back_url}, request=request
    )
    return Response.html(html)


def oldest_first(exchange: dict) -> tuple:
    """By time, then id. Any query can be rendered, so a column may mix types (text and numbers) or lack
    values: compared as text, never as mixed Python types, which would be a 500."""
    number = exchange.get("id")
    return (str(exchange.get("timestamp") or ""), number if isinstance(number, int) else 0, str(number or ""))


def attached(column: str | None) -> list[str]:
    """One line per attachment of the `attachments` column: what it was and whether Claude saw it."""
    try:
        items = json.loads(column) if column else []
    except (TypeError, ValueError):
        return [f"attachments (unreadable): {column}"]
    if not isinstance(items, list):
        return [f"attachments (unreadable): {column}"]
    return [described(item) for item in items]


def described(item) -> str:
    """The bot writes {name, type, size, status, reason}; anything else (a crafted query) is shown, not fatal."""
    if not isinstance(item, dict) or not isinstance(item.get("size", 0), int):
        return f"attachment (unreadable): {json.dumps(item)}"
    outcome = "sent to Claude" if item.get("status") == "sent" else f"refused: {item.get('reason')}"
    return f"{item.get('name')} ({item.get('type') or 'unknown type'}, {item.get('size', 0):,} bytes, {outcome})"


@hookimpl
def register_output_renderer(datasette):
    return {"extension": "transcript", "render": render, "can_render": can_render}
