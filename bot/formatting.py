"""Text shaping shared by the front ends: Discord's length limits and readable figures."""

from __future__ import annotations

MESSAGE_LIMIT = 2000
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
            text = text[cut + 1:]
    if text or not chunks:
        chunks.append(text)
    return chunks


def truncate(text: str, limit: int) -> str:
    """Shorten visibly: a cut text ends with an ellipsis and still fits `limit`."""
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def stats_lines(figures: dict) -> list[tuple[str, str]]:
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
        ("Retention", retention_text(figures.get("retention_days", 0))),
        ("Models", models or "none yet"),
    ]


def retention_text(days: float) -> str:
    return f"conversations older than {days:g} days are deleted" if days else "kept until deleted"


def history_entry(row: dict, user_chars: int = 150, bot_chars: int = 300) -> tuple[str, str]:
    """(heading, body) of one logged exchange, cut to fit an embed field."""
    heading = f"{row['timestamp']} UTC · {row['model_used']} · {row['tokens_used'] or 0} tokens"
    body = f"**User:** {truncate(row['user_message'], user_chars)}\n**Bot:** {truncate(row['bot_response'], bot_chars)}"
    return truncate(heading, 256), body
