"""Rows SQLite refused (locked, disk full, read-only), kept on disk until they can be written.

`Spool` is the append-only file beside the database. `Backlog` is what the writer thread writes
through: every write first replays what waits in the spool (and in memory, when even the spool
could not be written), so a row is logged as soon as SQLite takes writes again, and never twice.
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

from sqlite_utils import Database

from bot.store.migrations import TABLE
from bot.store.schema import write_transaction
from bot.store.sqlite import sqlite3

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

    def __init__(self, path: Path, reserve: Path | None = None):
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
            handle = open(self.lock_path, "a")
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

    def append(self, rows: list[dict]) -> None:
        try:
            self._append(rows)
        except OSError as err:
            if err.errno != errno.ENOSPC or not self.reserve.exists():
                raise
            self.reserve.unlink()  # the space was kept for exactly this
            log.warning("disk full: released %s to spool %d row(s)", self.reserve, len(rows))
            self._append(rows)

    def _append(self, rows: list[dict]) -> None:
        """All the rows or none: a disk that fills mid-write leaves no fragment for the retry to join."""
        data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
        # Unbuffered: a buffered file would append what it still held when it closes.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
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

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                rows.extend(self._rows_in(line, number))
        return rows

    def _rows_in(self, line: str, number: int) -> list[dict]:
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

    def keep_only(self, keep: Callable[[dict], bool]) -> int:
        """Drop the rows `keep` rejects (a forgotten user's, say); returns how many went."""
        rows = self.read()
        kept = [row for row in rows if keep(row)]
        if len(kept) < len(rows):
            partial = self.path.with_name(self.path.name + ".new")
            partial.unlink(missing_ok=True)
            Spool(partial).append(kept)
            os.replace(partial, self.path)
        return len(rows) - len(kept)


REPLY_UPDATE = f"update {TABLE} set reply_message_id = :reply_message_id where message_id = :message_id"


class Backlog:
    """The writer thread's way to the table: new rows land after every row still waiting.

    A reply id ({"message_id", "reply_message_id"}: the second write of an exchange) waits beside
    the rows in its own spool, and lands in the same transaction after them, so a rating of a reply
    whose row was spooled still finds it.
    """

    def __init__(self, spool: Spool, table_path: Path):
        self.spool = spool
        self.replies = Spool(table_path.with_name(table_path.name + ".replies.jsonl"), reserve=spool.reserve)
        self.table_path = table_path
        self.held: list[dict] = []  # rows neither SQLite nor the spool could take
        self.held_replies: list[dict] = []
        self.last_error: sqlite3.Error | None = None  # why the last write was refused, until one succeeds

    def write(self, db: Database, rows: list[dict], replies: list[dict] = ()) -> Outcome:
        with self.spool.locked():  # always taken before SQLite's write lock, so never a deadlock
            return self._write(db, rows, list(replies))

    def _write(self, db: Database, rows: list[dict], replies: list[dict]) -> Outcome:
        waiting = self.held + self.spool.read()
        waiting_replies = self.held_replies + self.replies.read()
        if not (waiting or rows or waiting_replies or replies):
            return Outcome.LOGGED
        try:
            with write_transaction(db):
                if waiting or rows:
                    db[TABLE].insert_all(waiting + rows, ignore=True)  # the unique message id: never twice
                db.conn.executemany(REPLY_UPDATE, waiting_replies + replies)
        except sqlite3.Error as err:
            self.last_error = err
            log.warning(
                "conversation log %s not writable (%s); spooling %d row(s)",
                self.table_path,
                err,
                len(rows) + len(replies),
            )
            return self._keep_all(rows, replies)
        self.last_error = None
        self.held, self.held_replies = [], []
        if waiting or waiting_replies:
            self.spool.clear()
            self.replies.clear()
            log.info(
                "replayed %d spooled row(s) and %d reply id(s) into %s",
                len(waiting),
                len(waiting_replies),
                self.table_path,
            )
        self.spool.keep_reserve()
        return Outcome.LOGGED

    def _keep_all(self, rows: list[dict], replies: list[dict]) -> Outcome:
        """What was only in memory goes to the spool with the new rows, as soon as the disk takes it."""
        held, self.held = self.held, []
        held_replies, self.held_replies = self.held_replies, []
        return self.keep(held + rows, held_replies + replies)

    def keep(self, rows: list[dict], replies: list[dict] = ()) -> Outcome:
        """Put rows (and reply ids) in the spool, or (the disk is full for the spool too) in memory."""
        outcome = Outcome.SPOOLED
        for spool, items, held in ((self.spool, rows, self.held), (self.replies, list(replies), self.held_replies)):
            if not items:
                continue
            try:
                spool.append(items)
            except OSError as err:
                log.error("cannot spool to %s (%s); holding %d in memory", spool.path, err, len(items))
                held.extend(items)
                outcome = Outcome.HELD
        return outcome

    def settle(self) -> list[str]:
        """At stop: what is held in memory goes to the spool; returns the message ids it could not keep,
        named in an ERROR line (never dropped in silence)."""
        if not (self.held or self.held_replies):
            return []
        with self.spool.locked():
            self._keep_all([], [])
        lost = [row["message_id"] for row in self.held]
        if self.held or self.held_replies:
            log.error(
                "LOST at stop: %d exchange(s) and %d reply id(s) that neither %s nor its spool %s could "
                "take; message ids: %s",
                len(self.held),
                len(self.held_replies),
                self.table_path,
                self.spool.path,
                ", ".join(lost + [r["message_id"] for r in self.held_replies]),
            )
        else:
            log.warning("wrote the exchanges held in memory to the spool %s at stop", self.spool.path)
        return lost

    def drop(self, keep: Callable[[dict], bool]) -> int:
        """Forget waiting rows that `keep` rejects; returns how many went."""
        before = len(self.held)
        self.held = [row for row in self.held if keep(row)]
        with self.spool.locked():
            return before - len(self.held) + self.spool.keep_only(keep)
