"""Rows SQLite refused (locked, disk full, read-only), kept on disk until they can be written.

`Spool` is the append-only file beside the database; the writer thread writes through the
Backlog (backlog.py), which replays it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

from bot.store.exchange import Row

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """Where a handed-over row is once its future resolves."""

    LOGGED = "logged"  # committed to the table
    SPOOLED = "spooled"  # in the spool file, fsynced: replayed on the next successful write
    HELD = "held"  # the disk took neither: in memory, retried on the writer's next turn


class Spool:
    """Append-only JSON-lines file of rows that could not be written to SQLite yet.

    Beside it sits a reserve file holding some disk space: when the disk is full, the
    reserve is deleted to make room, so spooled rows still reach the disk.
    """

    RESERVE_BYTES = 1 << 20  # about 1,500 exchanges

    def __init__(self, path: Path, reserve: Path | None = None) -> None:
        self.path = path
        # The reply ids' spool shares the rows' reserve: one kept space for both.
        self.reserve = reserve or path.with_name(path.name + ".reserve")
        self.lock_path = path.with_name(path.name + ".lock")
        self._reserve_warned = False

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the spool against other processes on the same log (shards): a replay reads, writes
        and clears the file, and a row another process appends in between must not be cleared."""
        try:
            handle = open(self.lock_path, "a")  # noqa: SIM115 -- closed by `with handle` below; opened apart so only its OSError falls back
        except OSError as err:  # a full or read-only disk: one process alone still needs no lock
            log.debug("spool lock %s unavailable: %s", self.lock_path, err)
            yield
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
            yield

    def keep_reserve(self) -> None:
        if self.reserve.exists():
            return
        try:
            with open(self.reserve, "wb") as handle:
                handle.write(b"\0" * self.RESERVE_BYTES)
        except OSError as err:
            self.reserve.unlink(missing_ok=True)
            # Once per outage: it is retried after every successful write until it works.
            log.log(
                logging.DEBUG if self._reserve_warned else logging.WARNING,
                "cannot keep %s for a full disk: %s",
                self.reserve,
                err,
            )
            self._reserve_warned = True
        else:
            self._reserve_warned = False

    def append(self, rows: list[Row]) -> None:
        try:
            append_whole(self.path, rows)
        except OSError as err:
            if err.errno != errno.ENOSPC or not self.reserve.exists():
                raise
            self.reserve.unlink()  # the space was kept for exactly this
            log.warning("disk full: released %s to spool %d row(s)", self.reserve, len(rows))
            append_whole(self.path, rows)

    def read(self) -> list[Row]:
        if not self.path.exists():
            return []
        rows: list[Row] = []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                rows.extend(self._rows_in(line, number))
        return rows

    def _rows_in(self, line: str, number: int) -> list[Row]:
        try:
            return [json.loads(line)]
        except json.JSONDecodeError:
            pass
        # A process killed mid-append leaves half a line, and the next append joins it: the whole
        # row after the fragment starts at one of its later braces.
        for start in (i for i, char in enumerate(line) if char == "{" and i > 0):
            try:
                row = json.loads(line[start:])
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                log.warning(
                    "line %d of spool %s: skipped a fragment of %d characters before a whole row",
                    number,
                    self.path,
                    start,
                )
                return [row]
        log.warning("skipping unreadable line %d of spool %s", number, self.path)
        return []

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def keep_only(self, keep: Callable[[Row], bool]) -> int:
        """Drop the rows `keep` rejects (a forgotten user's, say); returns how many went."""
        rows = self.read()
        kept = [row for row in rows if keep(row)]
        if len(kept) < len(rows):
            partial = self.path.with_name(self.path.name + ".new")
            partial.unlink(missing_ok=True)
            Spool(partial).append(kept)
            os.replace(partial, self.path)
        return len(rows) - len(kept)


def append_whole(path: Path, rows: list[Row]) -> None:
    """All the rows or none: a disk that fills mid-write leaves no fragment for the retry to join."""
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    # Unbuffered: a buffered file would append what it still held when it closes.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            left = memoryview(data)
            while left:
                left = left[os.write(fd, left) :]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, start)  # shrinking needs no free space
            raise
    finally:
        os.close(fd)
