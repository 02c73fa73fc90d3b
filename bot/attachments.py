"""Files users attach: which go to Claude (images, and text files as text), which are refused and why,
and how the log records them.

Claude takes JPEG, PNG, GIF and WebP images, at most 5 MB each, at most 8000x8000 px, in requests
of at most 32 MB (Anthropic's vision documentation). Images are sent as base64 image blocks after
downloading them, because Discord's attachment URLs expire. The log keeps what was attached
(name, type, size, URL), never the bytes.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # the API's limit per image
MAX_IMAGE_SIDE_PX = 8000  # the API rejects an image larger than 8000x8000 px
MAX_IMAGES_BYTES = 20 * 1024 * 1024  # all images of one message: base64 (x4/3) stays under the 32 MB request
TEXT_PREFIX = "text/"  # text/plain, text/markdown, text/csv ...: sent to Claude as text
MAX_TEXT_BYTES = 100_000  # a text file's share of the context: about 25,000 tokens
SENT, REFUSED = "sent", "refused"

log = logging.getLogger(__name__)


class DownloadError(Exception):
    """An attachment's bytes could not be fetched; the message names the file."""


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message, as any front end describes it; `fetch` downloads its bytes."""

    name: str
    content_type: str | None  # None when the platform could not tell
    size: int
    url: str
    fetch: Callable[[], Awaitable[bytes]]
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Screened:
    attachment: Attachment
    refusal: str | None  # why it does not go to Claude; None when it does


def screen(attachments: tuple[Attachment, ...]) -> list[Screened]:
    """Decide, before downloading anything, which attachments Claude will see."""
    screened, total = [], 0
    for attachment in attachments:
        refusal = _refusal(attachment)
        if refusal is None and media_type(attachment) in IMAGE_TYPES and total + attachment.size > MAX_IMAGES_BYTES:
            refusal = f"the images in one message must come to {MAX_IMAGES_BYTES // 2**20} MB at most"
        if refusal is None:
            total += attachment.size
        screened.append(Screened(attachment, refusal))
    return screened


def media_type(attachment: Attachment) -> str:
    return (attachment.content_type or "").split(";")[0].strip().lower()


def _refusal(attachment: Attachment) -> str | None:
    kind = media_type(attachment)
    if kind.startswith(TEXT_PREFIX):
        too_big = attachment.size > MAX_TEXT_BYTES
        return f"text files can be {MAX_TEXT_BYTES // 1000} kB at most" if too_big else None
    if kind not in IMAGE_TYPES:
        return "I can only look at images (PNG, JPEG, GIF or WebP) and text files"
    if attachment.size > MAX_IMAGE_BYTES:
        return f"it is {attachment.size / 2**20:.1f} MB and images can be {MAX_IMAGE_BYTES // 2**20} MB at most"
    if max(attachment.width or 0, attachment.height or 0) > MAX_IMAGE_SIDE_PX:
        return f"it is larger than {MAX_IMAGE_SIDE_PX}x{MAX_IMAGE_SIDE_PX} pixels"
    return None


async def images_for_claude(attachments: tuple[Attachment, ...]) -> tuple[list[Screened], list[dict]]:
    """Screen the attachments and download the images Claude may see; a failed download is a refusal."""
    screened, blocks = [], []
    for item in screen(attachments):
        if item.refusal is None:
            try:
                blocks.append(content_block(item.attachment, await item.attachment.fetch()))
            except DownloadError as err:
                log.warning("attachment %s not downloaded: %s", item.attachment.url, err)
                item = Screened(item.attachment, "it could not be downloaded")
        screened.append(item)
    return screened, blocks


def user_content(text: str, images: list[dict]) -> str | list[dict]:
    """A user turn for the Messages API: plain text, or the attachments' blocks first and then the text."""
    if not images:
        return text
    return images + [{"type": "text", "text": text}] if text.strip() else images


def content_block(attachment: Attachment, data: bytes) -> dict:
    """An image block (base64), or a text file as a text block headed by its name."""
    kind = media_type(attachment)
    if kind.startswith(TEXT_PREFIX):
        return {"type": "text", "text": f"[file: {attachment.name}]\n{data.decode('utf-8', 'replace')}"}
    return {"type": "image", "source": {"type": "base64", "media_type": kind,
                                        "data": base64.b64encode(data).decode("ascii")}}


def refusal_note(refused: list[Screened]) -> str:
    """One line per file Claude did not see, for the top of the reply."""
    return "".join(f"*(I couldn't look at {s.attachment.name}: {s.refusal}.)*\n" for s in refused)


def log_json(screened: list[Screened]) -> str | None:
    """The `attachments` column: what was attached and what became of it; None when nothing was."""
    if not screened:
        return None
    return json.dumps([{"name": s.attachment.name, "type": s.attachment.content_type, "size": s.attachment.size,
                        "url": s.attachment.url, "status": SENT if s.refusal is None else REFUSED,
                        "reason": s.refusal} for s in screened], ensure_ascii=False)


def as_text(text: str, attachments_json: str | None) -> str:
    """A logged user turn as text context: the files it carried are named, not resent."""
    sent = [a for a in json.loads(attachments_json or "[]") if a["status"] == SENT]
    shown = " ".join(f"[{'file' if (a['type'] or '').startswith(TEXT_PREFIX) else 'image'}: {a['name']}]"
                     for a in sent)
    return f"{text} {shown}".strip() if shown else text
