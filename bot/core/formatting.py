"""Text shaping shared by the front ends: Discord's length limits and readable figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.export_formats import counted
from bot.store.attachment_column import as_text
from bot.store.exchange import INCOMPLETE_STOPS

if TYPE_CHECKING:
    from bot.exports.files import ExportResult

MESSAGE_LIMIT = 2000  # characters of a message's content
EMBED_TITLE_LIMIT = 256  # characters of an embed's title, or a field's name
EMBED_FIELD_LIMIT = 1024  # characters of an embed field's value
ELLIPSIS = "…"


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split into chunks of at most `limit` characters, at a line break or space where possible."""
    chunks = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            chunks.append(text[:limit])  # one unbroken word longer than a message
            text = text[limit:]
        else:
            chunks.append(text[:cut])
            text = text[cut + 1 :]
    if text or not chunks:
        chunks.append(text)
    return chunks


def truncate(text: str, limit: int) -> str:
    """Shorten visibly: a cut text ends with an ellipsis and still fits `limit`."""
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def stats_lines(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for the !stats figures, in the spec's order."""
    models = "\n".join(
        f"{row['model_used'] or 'unknown'}: {row['conversations']:,} conversations, {row['tokens']:,} tokens"
        for row in figures["models"]
    )
    return [
        ("Total conversations", f"{figures['total_conversations']:,}"),
        ("Unique users", f"{figures['unique_users']:,}"),
        ("Last 24 hours", f"{figures['last_24_hours']:,}"),
        ("Total tokens", f"{figures['total_tokens']:,}"),
        ("Opted out", f"{figures['opted_out_users']:,} users"),
        ("Rated up", rated_up_text(figures["replies_rated_up"], figures["rated_replies"])),
        ("Retention", retention_text(figures.get("retention_days", 0))),
        ("Models", models or "none yet"),
        ("Estimated cost", cost_text(figures.get("costs", []))),
        ("Prompt cache", cache_text(figures.get("costs", []))),
    ]


def cost_text(costs: list[dict[str, Any]]) -> str:
    """The `costs` canned query's rows: all models first, then each model (None: no price known)."""
    if not costs:
        return "unknown"
    total, *models = costs
    lines = [f"{dollars(total['estimated_usd'])} in total, {dollars(total['last_24_hours_usd'])} in the last 24 hours"]
    lines += [f"{row['model_used'] or 'unknown'}: {dollars(row['estimated_usd'])}" for row in models]
    return truncate("\n".join(lines), EMBED_FIELD_LIMIT)


def cache_text(costs: list[dict[str, Any]]) -> str:
    """The prompt cache's share of the input tokens and what it saved, from the `costs` rows' total."""
    if not costs:
        return "unknown"
    share, saved = costs[0]["cache_share_percent"], costs[0]["cache_saved_usd"]
    # Writes cost 1.25x: a cache written and seldom read costs more than none.
    effect = f"saving {dollars(saved)}" if saved >= 0 else f"costing {dollars(-saved)} more than no cache"
    return f"{share:g}% of input tokens read from the cache, {effect}"


def dollars(amount: float | None) -> str:
    return "no price known" if amount is None else f"${amount:,.2f}"


def rated_up_text(up: int, rated: int) -> str:
    return f"{up:,} of {rated:,} rated replies ({up / rated:.0%})" if rated else "no ratings yet"


def retention_text(days: float) -> str:
    return f"exchanges older than {days:g} days are deleted" if days else "kept until deleted"


def stats_text(figures: dict[str, Any]) -> str:
    return "\n".join(f"{label}: {value}" for label, value in stats_lines(figures))


def history_text(rows: list[dict[str, Any]]) -> str:
    return "\n\n".join(f"{heading}\n{body.replace('**', '')}" for heading, body in map(history_entry, rows))


def history_entry(row: dict[str, Any], user_chars: int = 150, bot_chars: int = 300) -> tuple[str, str]:
    """(heading, body) of one logged exchange, cut to fit an embed field."""
    heading = f"{row['timestamp']} UTC · {row['model_used']} · {row['tokens_used'] or 0} tokens"
    if row.get("stop_reason") in INCOMPLETE_STOPS:  # the note at the reply's end may be truncated away
        heading += f" · {INCOMPLETE_STOPS[row['stop_reason']]}"
    user = as_text(row["user_message"], row.get("attachments"))  # names the images the user sent
    body = f"**User:** {truncate(user, user_chars)}\n**Bot:** {truncate(row['bot_response'], bot_chars)}"
    return truncate(heading, EMBED_TITLE_LIMIT), body


def privacy_sections(retention_days: float, redact: bool, memory_ttl_minutes: float) -> list[tuple[str, str]]:
    """The !privacy summary; PRIVACY.md has the whole policy."""
    masked = " E-mail addresses, phone numbers and keys are masked first." if redact else ""
    return [
        (
            "What is stored",
            "Each message you send the bot and its reply, with your user id, username, display name, "
            "channel, server, time, and the model and tokens used; for attachments, their name, type, size and "
            "link (images go to Claude; the bot keeps no file)." + masked,
        ),
        (
            "Where and for how long",
            f"In the bot's SQLite log: {retention_text(retention_days)}. "
            "Recent turns are also kept in a short-term memory so the bot can follow the "
            f"conversation; they expire after {memory_ttl_minutes:g} minutes of quiet.",
        ),
        (
            "Who can see it",
            "You, with `!history` (in a DM: from every server). This server's admins (Manage Server), with "
            "`!history` and `!export`, for this server only. The bot's owners, and the log's "
            "Datasette web pages, which need a login, see every server. Replies are generated by "
            "Anthropic's Claude, which receives your message and the recent turns.",
        ),
        (
            "Your choices",
            "`!forget` deletes your conversations and memory. `!optout` stops logging you "
            "(the bot still answers); `!optin` resumes.",
        ),
    ]


def candidates_text(query: str, found: dict[str, list[str]], prefix: str = "!") -> str:
    """Several people have had one name: list them, so the server admin or owner picks one by id, never a merge."""
    lines = [
        f"{len(found)} people have been called {query} here. Ask again with an id, "
        f"for example `{prefix}history {next(iter(found))}`:"
    ]
    lines += [f"• `{user_id}`: {', '.join(names)}" for user_id, names in found.items()]
    return truncate("\n".join(lines), MESSAGE_LIMIT)


DATASETTE_CSV_PATH = "/conversation_logs/conversations.csv?_stream=on"


def export_note(result: ExportResult, path: Path, number: int) -> str:
    if len(result.files) == 1:
        compressed = " (gzip-compressed to fit Discord's upload limit)" if path.suffix == ".gz" else ""
        return f"{counted(result.fmt, result.rows)}{compressed}."
    return f"Part {number} of {len(result.files)} of {counted(result.fmt, result.rows)} (gzip; each part stands alone)."


def too_big_message(result: ExportResult, datasette_url: str | None) -> str:
    where = (
        f"Download it from Datasette instead: {datasette_url}{DATASETTE_CSV_PATH}"
        if datasette_url
        else f"Download it from the bot's Datasette instead, at `{DATASETTE_CSV_PATH}`."
    )
    return f"The export of {counted(result.fmt, result.rows)} is too big for Discord, even compressed. {where}"


def unknown_format_text(formats: tuple[str, ...]) -> str:
    names = [f"`{name}`" for name in formats]
    return f"Unknown format: use {', '.join(names[:-1])} or {names[-1]}."
