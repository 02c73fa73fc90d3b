"""One logged exchange, and the timestamp form the log uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.store.request_record import RequestRecord

UNKNOWN_REQUEST = RequestRecord()  # the default: a row built without its request says so

FALLBACK_MODEL = "static_fallback"  # model_used of a static fallback reply, logged with 0 tokens
# Claude's stop reasons that leave a reply incomplete, as !history and the transcript name them; the
# fine-tuning exports never learn from these replies (bot/exports/finetune.py).
INCOMPLETE_STOPS = {
    "max_tokens": "cut at the length limit",
    "model_context_window_exceeded": "cut at the context window",
    "refusal": "refused by the model",
}

# One row of the log as sqlite-utils reads and writes it, and as the spool keeps it: column -> value.
Row = dict[str, Any]


def utc_now_text(moment: datetime | None = None) -> str:
    """UTC in SQLite's own `YYYY-MM-DD HH:MM:SS` form, so it compares right with datetime('now')."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Exchange:
    """One user message and the bot's reply, as it is logged."""

    user_id: str
    user_name: str
    channel_id: str
    user_message: str
    bot_response: str
    model_used: str
    message_id: str
    # UTC, utc_now_text()'s form: when the Exchange is built, unless the caller gives the moment.
    timestamp: str = field(default_factory=utc_now_text)
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int | None = None
    guild_id: str | None = None
    display_name: str | None = None
    conversation_id: str | None = None
    attachments: str | None = None  # JSON list of what was attached (attachments.py); None when nothing was
    reply_to_message_id: str | None = None  # the bot reply this message answered, when it continued one
    stop_reason: str | None = None  # Claude's (end_turn, max_tokens, refusal, ...); None when Claude gave none
    cache_creation_input_tokens: int = 0  # input Claude wrote to its prompt cache, not counted in input_tokens
    cache_read_input_tokens: int = 0  # input Claude read from its prompt cache, not counted in input_tokens
    request: RequestRecord = UNKNOWN_REQUEST  # what Claude was asked (request_record.py)

    def __post_init__(self) -> None:
        if not self.timestamp:  # "" meant "now" once: refused, so no row is logged without its moment
            raise ValueError(f"exchange {self.message_id}: an empty timestamp (leave it out to mean now)")

    def tokens_used(self) -> int:
        """Every token the exchange used, as the spec's tokens_used means: all input, cached or not, and output."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens + self.output_tokens

    def row(self) -> Row:
        row = dict(vars(self))  # every other field is a str or int: no need for asdict's deep copy
        row.update(row.pop("request").columns())
        row["tokens_used"] = self.tokens_used()
        return row
