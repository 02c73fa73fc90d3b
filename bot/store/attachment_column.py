"""The `attachments` column as the store keeps it: a JSON list of what a user turn carried, and how a
logged turn reads as text (for memory, history, transcripts and exports), with no download or Discord."""

from __future__ import annotations

import json

TEXT_PREFIX = "text/"  # text/plain, text/markdown, text/csv ...: sent to Claude as text
SENT, REFUSED = "sent", "refused"


def as_text(text: str, attachments_json: str | None) -> str:
    """A logged user turn as text context: the files it carried are named, not resent."""
    sent = [a for a in json.loads(attachments_json or "[]") if a["status"] == SENT]
    shown = " ".join(f"[{'file' if (a['type'] or '').startswith(TEXT_PREFIX) else 'image'}: {a['name']}]" for a in sent)
    return f"{text} {shown}".strip() if shown else text
