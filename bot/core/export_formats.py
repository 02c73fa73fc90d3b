"""Every export format, for every front end (!export, /export, the CLI): the files of bot/exports, and
`requests`, which rebuilds each row's request through the core's builder (request_export.py)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from bot.exports import files
from bot.store.blobs import BlobStore, blobs_path
from bot.store.export_sql import Selection
from bot.store.reads import Reads

REQUESTS = "requests"
FORMATS = (*files.FORMATS, REQUESTS)
COUNTED = {**files.COUNTED, REQUESTS: files.EXCHANGES}  # a request line per exchange


def counted(fmt: str, count: int) -> str:
    """`count` lines of `fmt`, naming what each stands for: "1 exchange", "2,000 conversations"."""
    one, many = COUNTED[fmt]
    return f"{count:,} {one if count == 1 else many}"


def records(
    fmt: str, store: Reads, selection: Selection, *, system_prompt: bool = False, limit: int | None = None
) -> Iterator[tuple[bytes, int]]:
    """The export as (bytes, how many of COUNTED[fmt] they hold) pieces (files.records)."""
    if fmt == REQUESTS:
        # Imported here: the builder brings anthropic, aiohttp and Pillow, which every other export (and
        # every CLI command, which imports this module) does without: `python -m bot --help` peaked at
        # 182 MB with them at import, 116 MB before the requests format (BENCHMARKS.md, 2026-11-30).
        from bot.core.request_export import request_lines

        return (
            (line, 1)
            for line in islice(request_lines(store.request_rows(selection), BlobStore(blobs_path(store.path))), limit)
        )
    return files.records(fmt, store, selection, system_prompt=system_prompt, limit=limit)
