"""Files users attach: which go to Claude (images, and text files as text), which are refused and why,
how they are downloaded, and how the log records them.

Claude takes JPEG, PNG, GIF and WebP images, at most 5 MB each, at most 8000x8000 px, in requests
of at most 32 MB (Anthropic's vision documentation). Images are sent as base64 image blocks after
downloading them, because Discord's attachment URLs expire. The log keeps what was attached
(name, type, size, URL, and the SHA-256 of the bytes Claude was sent); the bytes themselves only
with BOT_KEEP_ATTACHMENTS on, in the blob store beside it (bot/store/blobs.py).

A download (download.py) trusts nothing the message says, and an image's dimensions are read from its
own header, before anything decodes its pixels.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, cast, get_args

from anthropic.types import ImageBlockParam, TextBlockParam
from PIL import Image

from bot.core.download import DownloadError
from bot.store.attachment_column import REFUSED, SENT, TEXT_PREFIX
from bot.store.blobs import SentFile

ImageType: TypeAlias = Literal["image/jpeg", "image/png", "image/gif", "image/webp"]  # what Claude reads
IMAGE_TYPES: tuple[str, ...] = get_args(ImageType)
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # the API's limit per image
MAX_IMAGE_SIDE_PX = 8000  # the API rejects an image larger than 8000x8000 px
MAX_IMAGES_BYTES = 20 * 1024 * 1024  # all images of one message: base64 (x4/3) stays under the 32 MB request
MAX_TEXT_BYTES = 100_000  # a text file's share of the context: about 25,000 tokens
PILLOW_FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]  # the only header parsers Pillow may try

ContentBlock: TypeAlias = TextBlockParam | ImageBlockParam  # what one attachment becomes in a user turn

log = logging.getLogger(__name__)


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
    sha256: str | None = None  # of the bytes sent to Claude; None when none were (refused)
    data: bytes | None = field(default=None, repr=False)  # those bytes, for BOT_KEEP_ATTACHMENTS; None as sha256


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


async def images_for_claude(attachments: tuple[Attachment, ...]) -> tuple[list[Screened], list[ContentBlock]]:
    """Screen the attachments and download the images Claude may see; a failed download, or bytes that
    break a limit the metadata kept, are a refusal."""
    screened: list[Screened] = []
    blocks: list[ContentBlock] = []
    total = 0
    for item in screen(attachments):
        if item.refusal is None:
            try:
                data = await item.attachment.fetch()
                _check_bytes(item.attachment, data, total)
                total += len(data) if media_type(item.attachment) in IMAGE_TYPES else 0
                blocks.append(content_block(item.attachment, data))
                # On a thread (hashlib lets go of the GIL): 20 MB of images is ~56 ms of SHA-256 here.
                digest = (await asyncio.to_thread(hashlib.sha256, data)).hexdigest()
                item = Screened(item.attachment, None, digest, data)
            except DownloadError as err:
                log.warning("attachment %s not used: %s", item.attachment.url, err)
                item = Screened(item.attachment, str(err))
        screened.append(item)
    return screened, blocks


def byte_limit(content_type: str | None) -> int:
    """The most bytes a download of a file of this type may bring (only text and images are fetched)."""
    return MAX_TEXT_BYTES if (content_type or "").strip().lower().startswith(TEXT_PREFIX) else MAX_IMAGE_BYTES


def _check_bytes(attachment: Attachment, data: bytes, images_so_far: int) -> None:
    """What the metadata said, checked against the bytes themselves."""
    if media_type(attachment) not in IMAGE_TYPES:
        return
    if images_so_far + len(data) > MAX_IMAGES_BYTES:
        raise DownloadError(f"the images in one message must come to {MAX_IMAGES_BYTES // 2**20} MB at most")
    width, height = image_size(data)
    if max(width, height) > MAX_IMAGE_SIDE_PX:
        raise DownloadError(
            f"it is {width}x{height} pixels, and images can be {MAX_IMAGE_SIDE_PX}x{MAX_IMAGE_SIDE_PX} at most"
        )


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the image's header alone: Image.open parses the header and decodes no
    pixel (that waits for load()), so a 100000x100000 "bomb" of a few hundred bytes costs nothing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # over 89M px: refuse, not warn
            with Image.open(io.BytesIO(data), formats=PILLOW_FORMATS) as image:
                return image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DownloadError(f"it is larger than {MAX_IMAGE_SIDE_PX}x{MAX_IMAGE_SIDE_PX} pixels") from None
    except Exception:
        raise DownloadError("it is not a readable PNG, JPEG, GIF or WebP image") from None


def user_content(text: str, images: list[ContentBlock]) -> str | list[ContentBlock]:
    """A user turn for the Messages API: plain text, or the attachments' blocks first and then the text."""
    if not images:
        return text
    return [*images, {"type": "text", "text": text}] if text.strip() else images


def content_block(attachment: Attachment, data: bytes) -> ContentBlock:
    """An image block (base64), or a text file as a text block headed by its name."""
    return file_block(attachment.name, media_type(attachment), data)


def file_block(name: str, kind: str, data: bytes) -> ContentBlock:
    """The block of a file of media type `kind` (one screen() let through); the requests export's too."""
    if kind.startswith(TEXT_PREFIX):
        return {"type": "text", "text": f"[file: {name}]\n{data.decode('utf-8', 'replace')}"}
    image = cast(ImageType, kind)  # screen() let through only IMAGE_TYPES, and text, handled above
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": image, "data": base64.b64encode(data).decode("ascii")},
    }


def sent_files(screened: list[Screened]) -> list[SentFile]:
    """The bytes each file sent to Claude carried, for the blob store (bot/store/blobs.py)."""
    return [
        SentFile(s.sha256, media_type(s.attachment), s.data)
        for s in screened
        if s.sha256 is not None and s.data is not None
    ]


def refusal_note(refused: list[Screened]) -> str:
    """One line per file Claude did not see, for the top of the reply."""
    return "".join(f"*(I couldn't look at {s.attachment.name}: {s.refusal}.)*\n" for s in refused)


def log_json(screened: list[Screened]) -> str | None:
    """The `attachments` column: what was attached and what became of it; None when nothing was."""
    if not screened:
        return None
    return json.dumps(
        [
            {
                "name": s.attachment.name,
                "type": s.attachment.content_type,
                "size": s.attachment.size,
                "url": s.attachment.url,
                "status": SENT if s.refusal is None else REFUSED,
                "reason": s.refusal,
                **({"sha256": s.sha256} if s.sha256 is not None else {}),  # a refused file sent no bytes
            }
            for s in screened
        ],
        ensure_ascii=False,
    )
