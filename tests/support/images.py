"""Real image bytes: the bot reads every image's header before sending it on."""

from __future__ import annotations

import io

from PIL import Image


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG: the bot reads every image's header (its dimensions) before sending it on."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, "PNG")
    return out.getvalue()


PNG = png()
