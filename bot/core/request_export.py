"""The `requests` export: one JSON line per exchange, `{"id": ROW_ID, "request": BODY}`, BODY the Messages
API body that produced the row (minus `stream`), rebuilt from the log through the live builder (request.py).

Two stated differences from what Claude was sent, each marked on the line:
- "redacted": true when BOT_REDACT masked the user's text before it was logged: BODY carries the masked text;
- "files_missing": the attachments whose bytes are not kept (BOT_KEEP_ATTACHMENTS off, or kept before it was
  and since removed): each one's block becomes a text block naming the file and the SHA-256 of the bytes
  sent, and saying they are missing. A file whose bytes the blob store keeps (bot/store/blobs.py) gets
  back the very block Claude was sent, and is not listed.
A row whose request cannot be rebuilt has no "request" but "unavailable", the reason: logged before the
log kept requests (request_state 'unknown'), answered with no request (no API key), or context exchanges
no longer in the log (a forget, retention) or outside the export's scope. No line is left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from anthropic.types import MessageParam

from bot.core.attachments import ContentBlock, file_block, user_content
from bot.core.request import build_request
from bot.store.attachment_column import SENT, as_text
from bot.store.blobs import BlobStore
from bot.store.exchange import Row
from bot.store.request_record import NOT_SENT, RECORDED, UNKNOWN

MISSING_FILE = "[file: {name}, SHA-256 {sha256}: its bytes are not kept in the log, so they are missing here]"
UNAVAILABLE = {
    UNKNOWN: "unknown: logged before the log kept each exchange's request",
    NOT_SENT: "not sent: no request went to Claude (no ANTHROPIC_API_KEY: the static fallback answered)",
}
MISSING_CONTEXT = "context exchanges not in the log (forgotten, or past retention) or outside this export: {ids}"


def request_lines(rows: Iterable[Row], blobs: BlobStore) -> Iterator[bytes]:
    for row in rows:
        yield (json.dumps(request_line(row, blobs), ensure_ascii=False) + "\n").encode("utf-8")


def request_line(row: Row, blobs: BlobStore) -> dict[str, Any]:
    """One row's line: its rebuilt request and the marks, or why there is none."""
    state = row["request_state"]
    if state != RECORDED:
        return {"id": row["id"], "unavailable": UNAVAILABLE[state]}
    if row["context_missing"]:
        return {"id": row["id"], "unavailable": MISSING_CONTEXT.format(ids=", ".join(row["context_missing"]))}
    blocks, files = file_blocks(sent_files(row["attachments"]), blobs)
    message: MessageParam = {"role": "user", "content": user_content(row["user_message"], blocks)}
    body = build_request(
        row["system_prompt_text"],
        [*context_turns(row["context"]), message],
        model=row["model_requested"],
        max_tokens=row["max_tokens"],
    )
    return {"id": row["id"], "request": body, "redacted": bool(row["request_masked"]), "files_missing": files}


def context_turns(rows: list[Row]) -> list[MessageParam]:
    """The earlier exchanges as Claude saw them (memory.py and recall_chain keep them this way)."""
    turns: list[MessageParam] = []
    for row in rows:
        turns += [
            {"role": "user", "content": as_text(row["user_message"], row["attachments"])},
            {"role": "assistant", "content": row["bot_response"]},
        ]
    return turns


def sent_files(attachments_json: str | None) -> list[dict[str, str]]:
    """The files whose bytes went to Claude, in the order their blocks were sent."""
    kept = json.loads(attachments_json or "[]")
    return [{"name": a["name"], "sha256": a["sha256"]} for a in kept if a["status"] == SENT]


def file_blocks(files: list[dict[str, str]], blobs: BlobStore) -> tuple[list[ContentBlock], list[dict[str, str]]]:
    """Each file's block as Claude was sent it, from its kept bytes, or the missing mark; and the missing."""
    blocks: list[ContentBlock] = []
    missing: list[dict[str, str]] = []
    for file in files:
        kept = blobs.get(file["sha256"])
        if kept is None:
            missing.append(file)
            blocks.append({"type": "text", "text": MISSING_FILE.format(**file)})
        else:
            blocks.append(file_block(file["name"], kept.media_type, kept.data))
    return blocks, missing
