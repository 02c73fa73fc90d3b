"""Exports of the log, streamed to disk: CSV, JSON lines, and chat JSON lines for fine-tuning.

The same code serves `!export` (shaped to fit Discord's upload limit) and `python -m bot export`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BufferedIOBase
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from bot.exports.finetune import BUILDERS, FINETUNE_FORMATS, grouped, incomplete, logged_prompt
from bot.store.attachment_column import as_text
from bot.store.export_sql import Order, Selection
from bot.store.reads import Reads

FORMATS = ("csv", "jsonl", "chat-jsonl", *FINETUNE_FORMATS)
# Fallback replies are not training data: chat-jsonl leaves them out unless asked (the fine-tuning
# formats always do, see finetune.py).
EXCLUDES_FALLBACK_BY_DEFAULT = {"chat-jsonl", *FINETUNE_FORMATS}
# Formats that hold whole conversations, one per line, so their rows come grouped and in order.
BY_CONVERSATION = {"chat-jsonl", "openai", "bedrock", "kto"}
# What one line (a CSV record) of each format stands for, (one, many), as its count names it: a row per exchange,
# a line per conversation (per system prompt version of it: finetune.py), or kto's line per rated reply.
EXCHANGES, CONVERSATIONS = ("exchange", "exchanges"), ("conversation", "conversations")
COUNTED = {
    "csv": EXCHANGES,
    "jsonl": EXCHANGES,
    "chat-jsonl": CONVERSATIONS,
    "openai": CONVERSATIONS,
    "bedrock": CONVERSATIONS,
    "kto": ("rated reply", "rated replies"),
}
# Bytes reserved in every gzip part for the gzip header, trailer and deflate block overhead.
GZIP_OVERHEAD = 1024
# A part learns its compressed size at a sync flush: one per eighth of its limit, and at least this much input apart.
MIN_FLUSH_BYTES = 64 * 1024
FLUSHES_PER_PART = 8

Rows = Iterator[Sequence[Any]]  # the header, then the rows (Reads.export_rows)


class Output(Protocol):
    """Where an export is written: a file, a gzip file, or standard output."""

    def write(self, data: bytes, /) -> int: ...


@dataclass
class ExportResult:
    fmt: str  # the format written, which says what `rows` counts (COUNTED)
    files: list[Path] = field(default_factory=list)
    rows: int = 0  # lines (CSV records) written: exchanges, conversations or rated replies, as fmt holds them
    too_big: bool = False  # not even split parts fit: point the user elsewhere


def export_filename(fmt: str = "csv", moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    suffix = {"csv": ".csv", "jsonl": ".jsonl", "chat-jsonl": "_chat.jsonl"}.get(fmt, f"_{fmt}.jsonl")
    return f"conversation_export_{moment:%Y%m%d_%H%M%S}{suffix}"


def row_order(fmt: str) -> Order:
    """The conversation formats need each conversation's turns together and in order."""
    return Order.CONVERSATION if fmt in BY_CONVERSATION else Order.ID


def csv_records(rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """One CSV record per row (a record may span lines); used to split a written CSV by record."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()


def jsonl_records(rows: Rows) -> Iterator[bytes]:
    """One JSON object per exchange, every column."""
    header = next(rows)
    for row in rows:
        yield (json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False) + "\n").encode("utf-8")


def chat_records(rows: Rows, system_prompt: bool = False) -> Iterator[bytes]:
    """One conversation per line, as fine-tuning tools take it: {"messages": [user, assistant, ...]}.

    `rows` must come ordered by conversation_id, then time. A reply Claude did not finish (cut at a
    limit, or refused) is left out, with its message: this format has no weights to keep it as context.
    `system_prompt`: each line starts with the system prompt its turns were answered with, from the log
    (one line per version, as finetune.py says).
    """
    for key, turns in grouped(rows):
        text = logged_prompt(turns, system_prompt)
        messages = [{"role": "system", "content": text}] if text else []
        for turn in turns:
            if incomplete(turn):
                continue
            messages += [
                {"role": "user", "content": as_text(turn["user_message"], turn.get("attachments"))},
                {"role": "assistant", "content": turn["bot_response"]},
            ]
        yield (json.dumps({"conversation_id": key, "messages": messages}, ensure_ascii=False) + "\n").encode("utf-8")


def records(
    fmt: str, store: Reads, selection: Selection, *, system_prompt: bool = False, limit: int | None = None
) -> Iterator[tuple[bytes, int]]:
    """The export as (bytes, how many of COUNTED[fmt] they hold) pieces; `system_prompt`: the
    conversation formats carry each conversation's own system prompt, from the log."""
    if fmt == "csv":
        return store.csv_chunks(selection, limit)
    if fmt in BUILDERS:
        lines = BUILDERS[fmt](store.export_rows(selection, row_order(fmt), rated=True, prompts=True), system_prompt)
        return ((line, 1) for line in islice(lines, limit))
    rows = store.export_rows(selection, row_order(fmt), prompts=fmt != "jsonl")
    lines = jsonl_records(rows) if fmt == "jsonl" else chat_records(rows, system_prompt)
    return ((line, 1) for line in islice(lines, limit))


def write_records(pieces: Iterable[tuple[bytes, int]], out: Output) -> int:
    """Write every piece; returns how many lines (CSV records) were written: COUNTED says of what."""
    total = 0
    for data, count in pieces:
        out.write(data)
        total += count
    return total


def open_output(path: Path) -> BufferedIOBase:
    """A file for writing, gzip-compressed when the name ends in .gz."""
    # Level 6 (zlib's default), not gzip's 9: 3x faster here for a file 2% larger.
    return gzip.open(path, "wb", compresslevel=6) if path.suffix == ".gz" else open(path, "wb")


def export_file(
    fmt: str,
    pieces: Iterable[tuple[bytes, int]],
    directory: Path,
    *,
    max_bytes: int | None = None,
    max_parts: int = 10,
    moment: datetime | None = None,
) -> ExportResult:
    """Write an export; over `max_bytes` gzip it, and if still over split it into gzip parts."""
    plain = Path(directory) / export_filename(fmt, moment)
    with open(plain, "wb") as out:
        result = ExportResult(fmt, rows=write_records(pieces, out))
    if max_bytes is None or plain.stat().st_size <= max_bytes:
        result.files = [plain]
        return result
    packed = gzip_copy(plain)
    if packed.stat().st_size <= max_bytes:
        result.files = [packed]
    elif packed.stat().st_size > max_parts * (max_bytes - GZIP_OVERHEAD):
        result.too_big = True
    else:
        result.files = split_gzip(plain, fmt, max_bytes)
        result.too_big = len(result.files) > max_parts
    plain.unlink()
    return result


def gzip_copy(source: Path) -> Path:
    target = source.with_name(source.name + ".gz")
    with open(source, "rb") as src, open_output(target) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def file_records(source: Path, fmt: str) -> Iterator[bytes]:
    """The records of a written export again: CSV records may span lines, JSON lines do not."""
    if fmt != "csv":
        with open(source, "rb") as handle:
            yield from handle
        return
    with open(source, newline="", encoding="utf-8") as handle:
        yield from csv_records(csv.reader(handle))


def split_gzip(source: Path, fmt: str, max_bytes: int) -> list[Path]:
    """Standalone `..._partNN.<ext>.gz` files, each at most `max_bytes`; CSV parts repeat the header."""
    lines = file_records(source, fmt)
    header = next(lines) if fmt == "csv" else b""
    stem, _, extension = source.name.partition(".")
    parts: list[Path] = []
    part: GzipPart | None = None
    for line in lines:
        if part is None or not part.fits(line):
            if part is not None:
                part.close()
            parts.append(source.with_name(f"{stem}_part{len(parts) + 1:02d}.{extension}.gz"))
            part = GzipPart(parts[-1], max_bytes, header)
        part.write(line)
    if part is not None:
        part.close()
    return parts


class GzipPart:
    """A gzip file that knows, exactly, whether one more record still fits under its limit.

    Deflate output lags its input, so the compressed size is only known after a sync
    flush. Until then we count the unflushed input at full size, which deflate never
    exceeds by more than the reserved overhead.
    """

    def __init__(self, path: Path, max_bytes: int, header: bytes) -> None:
        self.max_bytes = max_bytes
        self.flush_every = max(MIN_FLUSH_BYTES, max_bytes // FLUSHES_PER_PART)
        self.raw = open(path, "wb")  # noqa: SIM115 -- the part stays open across writes; close() closes it
        self.gzip = gzip.GzipFile(fileobj=self.raw, mode="wb", compresslevel=6)
        self.flushed_size = 0
        self.unflushed = 0
        self.write(header)

    def fits(self, line: bytes) -> bool:
        if self.unflushed + len(line) > self.flush_every:
            self.gzip.flush(zlib.Z_SYNC_FLUSH)
            self.flushed_size, self.unflushed = self.raw.tell(), 0
        return self.flushed_size + self.unflushed + len(line) + GZIP_OVERHEAD <= self.max_bytes

    def write(self, line: bytes) -> None:
        self.gzip.write(line)
        self.unflushed += len(line)

    def close(self) -> None:
        self.gzip.close()
        self.raw.close()
