"""What the log keeps of the request behind each exchange (m021, m022), so a row can replay it.

Ids, not copies: the system prompt is kept once per version (`system_prompts`, keyed by the SHA-256 of
its text) and each row points at it; the earlier turns sent as context are named by their exchanges'
Discord message ids (the log's unique key, known before the writer commits, and kept through the
spool), in the order Claude saw them. The parameters sent besides the messages are `model` and
`max_tokens` today: one column each. `model_used` keeps the specification's meaning: the model that
answered (the API's `model` in its reply); `model_requested` is the one asked for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlite_utils import Database

# request_state: how much of a row's request the log knows. An explicit value, never a NULL.
RECORDED = "recorded"  # everything above, from m022 on
UNKNOWN = "unknown"  # logged before m022 (or by a tool that does not record it): nothing is invented
NOT_SENT = "not_sent"  # no request went to Claude (no ANTHROPIC_API_KEY: the static fallback answered)
STATES = (RECORDED, UNKNOWN, NOT_SENT)
PROMPTS = "system_prompts"


@dataclass(frozen=True)
class RequestRecord:
    """One exchange's request, as its row keeps it."""

    state: str = UNKNOWN
    system_prompt_id: int | None = None
    model_requested: str | None = None
    max_tokens: int | None = None
    anthropic_message_id: str | None = None  # msg_...: None when no message came back (the fallback)
    request_id: str | None = None  # the `request-id` header Anthropic's support asks for
    context_message_ids: tuple[str, ...] = ()  # the exchanges sent before this message, oldest first
    masked: bool = False  # BOT_REDACT masked the row's user_message: Claude was sent the unmasked text

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"request_state {self.state!r}: expected one of {', '.join(STATES)}")

    def columns(self) -> dict[str, object]:
        return {
            "request_state": self.state,
            "system_prompt_id": self.system_prompt_id,
            "model_requested": self.model_requested,
            "max_tokens": self.max_tokens,
            "anthropic_message_id": self.anthropic_message_id,
            "request_id": self.request_id,
            # Compact JSON (no spaces): a context of 10 turns of 19-digit ids is 10 * 22 bytes.
            "context_message_ids": json.dumps(list(self.context_message_ids), separators=(",", ":"))
            if self.state == RECORDED
            else None,
            "request_masked": int(self.masked) if self.state == RECORDED else None,
        }


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def register_prompt(db: Database, text: str, now: str) -> int:
    """The id of this prompt's version, adding it on first use; an existing version is never rewritten."""
    digest = prompt_hash(text)
    db.execute(
        f"insert into {PROMPTS} (hash, text, first_used, last_used) values (?, ?, ?, ?) on conflict (hash) do nothing",
        [digest, text, now, now],
    )
    return int(db.execute(f"select id from {PROMPTS} where hash = ?", [digest]).fetchone()[0])


def with_state(row: dict[str, object]) -> dict[str, object]:
    """A row spooled before m022 has no request_state: it says 'unknown' (a missing key would insert NULL)."""
    return row if "request_state" in row else {**row, "request_state": UNKNOWN}


def touch_prompts(db: Database, rows: list[dict[str, object]]) -> None:
    """Move each prompt's last_used to its latest row in this group commit: one UPDATE per version."""
    latest: dict[object, str] = {}
    for row in rows:
        prompt_id = row.get("system_prompt_id")
        if prompt_id is not None:
            latest[prompt_id] = max(latest.get(prompt_id, ""), str(row["timestamp"]))
    db.conn.executemany(
        f"update {PROMPTS} set last_used = max(last_used, ?) where id = ?",
        [(moment, prompt_id) for prompt_id, moment in latest.items()],
    )
