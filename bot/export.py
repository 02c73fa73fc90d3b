"""CSV export of the whole log, streamed to disk and shaped to fit an upload limit."""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

# Bytes reserved in every gzip part for the gzip header, trailer and deflate block overhead.
GZIP_OVERHEAD = 1024


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    too_big: bool = False  # not even split parts fit: point the user elsewhere


def export_filename(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(timezone.utc)
    return f"conversation_export_{moment:%Y%m%d_%H%M%S}.csv"


def write_csv(rows: Iterable[list], path: Path) -> int:
    """Write header and rows; return the number of data rows."""
    rows = iter(rows)
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(next(rows))
        for count, row in enumerate(rows, start=1):
            writer.writerow(row)
    return count


def gzip_copy(source: Path) -> Path:
    target = source.with_name(source.name + ".gz")
    with open(source, "rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def export_csv(rows: Iterable[list], directory: Path, *, max_bytes: int | None = None,
               max_parts: int = 10, moment: datetime | None = None) -> ExportResult:
    """The spec's CSV; over `max_bytes` gzip it, and if still over split it into gzip parts."""
    plain = Path(directory) / export_filename(moment)
    result = ExportResult(rows=write_csv(rows, plain))
    if max_bytes is None or plain.stat().st_size <= max_bytes:
        result.files = [plain]
        return result
    packed = gzip_copy(plain)
    if packed.stat().st_size <= max_bytes:
        result.files = [packed]
    elif packed.stat().st_size > max_parts * (max_bytes - GZIP_OVERHEAD):
        result.too_big = True
    else:
        result.files = split_gzip(plain, max_bytes)
        result.too_big = len(result.files) > max_parts
    plain.unlink()
    return result


def split_gzip(source: Path, max_bytes: int) -> list[Path]:
    """Standalone `..._partNN.csv.gz` files, each with the header and each at most `max_bytes`."""
    with open(source, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = _encode(next(reader))
        parts: list[Path] = []
        part: GzipPart | None = None
        for line in map(_encode, reader):
            if part is None or not part.fits(line):
                if part is not None:
                    part.close()
                parts.append(source.with_name(f"{source.stem}_part{len(parts) + 1:02d}.csv.gz"))
                part = GzipPart(parts[-1], max_bytes, header)
            part.write(line)
        if part is not None:
            part.close()
    return parts


def _encode(row: list) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue().encode("utf-8")


class GzipPart:
    """A gzip file that knows, exactly, whether one more line still fits under its limit.

    Deflate output lags its input, so the compressed size is only known after a sync
    flush. Until then we count the unflushed input at full size, which deflate never
    exceeds by more than the reserved overhead.
    """

    def __init__(self, path: Path, max_bytes: int, header: bytes):
        self.max_bytes = max_bytes
        self.flush_every = max(64 * 1024, max_bytes // 8)
        self.raw = open(path, "wb")
        self.gzip = gzip.GzipFile(fileobj=self.raw, mode="wb")
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

