"""The bytes of the files sent to Claude, kept once per SHA-256 when BOT_KEEP_ATTACHMENTS is on.

Where: a second SQLite file beside the log, `conversation_logs.blobs.db` (`blobs_path`), not a folder of
files and not a column of the log:
- Litestream replicates SQLite databases only (bot/replica): a folder would never reach the replica;
- `python -m bot backup` copies it as it copies the log (VACUUM INTO, consistent while the bot writes);
- `PRAGMA secure_delete` zeroes a removed file's pages, as it does a forgotten row's;
- outside the log, the rows' pages, Datasette's tables and the log's own backups stay free of image bytes
  (an image is up to 5 MB, a row about 1.7 kB), and a failing blob store can never refuse a row.

Which rows refer to a file is the log's `attachment_refs` table (m025, kept by triggers from the rows'
attachments JSON). One worker thread does every write here, in order: a file is kept only once its row is
committed and still refers to it, and a prune (after a forget or retention) removes every file no row refers
to. So a forget that commits while a file waits is followed by a prune that runs after that file's write.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.store.exchange import utc_now_text
from bot.store.schema import BUSY_TIMEOUT_S
from bot.store.sqlite import commit_for_litestream, sqlite3

log = logging.getLogger(__name__)

BLOBS_SUFFIX = ".blobs.db"
SCHEMA = """CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY, media_type TEXT NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL,
    kept_at TEXT NOT NULL)"""


def blobs_path(log_path: Path) -> Path:
    """conversation_logs.db -> conversation_logs.blobs.db, in the same folder."""
    return log_path.with_name(log_path.stem + BLOBS_SUFFIX)


def keeping_line(keeping: bool) -> str:
    """Which way this deployment runs, for `python -m bot stats` and PRIVACY.md's readers."""
    if keeping:
        return "Attachments: their bytes are kept (BOT_KEEP_ATTACHMENTS=on), once per SHA-256, beside the log"
    return "Attachments: their bytes are not kept (BOT_KEEP_ATTACHMENTS=off): the log keeps names, sizes and SHA-256"


@dataclass(frozen=True)
class SentFile:
    """The bytes of one file as they were sent to Claude."""

    sha256: str
    media_type: str
    data: bytes


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    conn.execute("PRAGMA secure_delete = ON")  # a removed file's pages are zeroed, as a forgotten row's
    return conn


@contextmanager
def _writing(path: Path, replicated: bool) -> Iterator[sqlite3.Connection]:
    """A connection that commits on success and is closed either way."""
    conn = _connect(path)
    if replicated:
        commit_for_litestream(conn)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _done(count: int) -> Future[int]:
    future: Future[int] = Future()
    future.set_result(count)
    return future


class BlobStore:
    """The blob file's reads and writes; each call opens and closes its own connection (any thread)."""

    def __init__(self, path: Path, replicated: bool = False) -> None:
        self.path = Path(path)
        self.replicated = replicated  # Litestream replicates the file (bot/store/sqlite.py: what that changes)

    def create(self) -> None:
        """Make the file, in WAL mode (Litestream replicates only WAL databases)."""
        with _writing(self.path, self.replicated) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(SCHEMA)

    def put(self, file: SentFile) -> None:
        if hashlib.sha256(file.data).hexdigest() != file.sha256:
            raise ValueError(f"the bytes of {file.sha256} do not have that SHA-256")
        self.create()
        with _writing(self.path, self.replicated) as conn:
            conn.execute(
                "insert or ignore into blobs values (?, ?, ?, ?, ?)",
                [file.sha256, file.media_type, len(file.data), file.data, utc_now_text()],
            )

    def get(self, sha256: str) -> SentFile | None:
        """The kept bytes of this SHA-256; None when they are not kept (off, never sent, or removed)."""
        if not self.path.exists():
            return None
        conn = _connect(self.path)
        try:
            row = conn.execute("select media_type, data from blobs where sha256 = ?", [sha256]).fetchone()
        except sqlite3.OperationalError:  # the file exists but its table was never made
            return None
        finally:
            conn.close()
        return None if row is None else SentFile(sha256, row[0], bytes(row[1]))

    def hashes(self) -> list[str]:
        if not self.path.exists():
            return []
        conn = _connect(self.path)
        try:
            return [sha for (sha,) in conn.execute("select sha256 from blobs")]
        finally:
            conn.close()

    def backup(self, target: Path) -> None:
        """A consistent copy, taken while the bot may be writing (as the log's, reads.py)."""
        conn = _connect(self.path)
        try:
            conn.execute("VACUUM INTO ?", [str(target)])
        finally:
            conn.close()

    def remove(self, hashes: Iterable[str]) -> int:
        with _writing(self.path, self.replicated) as conn:
            return sum(conn.execute("delete from blobs where sha256 = ?", [sha]).rowcount for sha in hashes)


class Blobs:
    """The log's kept files: `keep` after a row is committed, `prune` after a delete, on one worker thread."""

    def __init__(self, log_path: Path, keeping: bool, replicated: bool = False) -> None:
        self.log_path = Path(log_path)
        self.store = BlobStore(blobs_path(self.log_path), replicated)
        self.keeping = keeping  # BOT_KEEP_ATTACHMENTS; a prune runs either way, for files kept while it was on
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blobs")

    def open(self) -> Blobs:
        if self.keeping:
            self.store.create()  # there from the start, for Litestream to replicate
        return self

    def keep(self, files: list[SentFile]) -> Future[int]:
        """Queue the files' bytes (a row referring to them is committed); the caller never waits. Resolves
        to the count kept: 0 at once when keeping is off or no file was sent."""
        if not self.keeping or not files:
            return _done(0)
        return self._after(self._worker.submit(self._keep, files), "keeping attachments")

    def prune(self) -> Future[int]:
        """Queue the removal of every kept file no row refers to; resolves to the count removed."""
        if not self.store.path.exists():  # no file was ever kept beside this log
            return _done(0)
        return self._after(self._worker.submit(self._prune), "removing unreferenced attachments")

    def flush(self) -> None:
        """Wait for every write queued so far."""
        self._worker.submit(lambda: None).result()

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def _keep(self, files: list[SentFile]) -> int:
        referenced = self._referenced([file.sha256 for file in files])
        for file in files:
            if file.sha256 in referenced:  # its row may have been forgotten (or spooled) meanwhile
                self.store.put(file)
        return len(referenced)

    def _prune(self) -> int:
        kept = self.store.hashes()
        return self.store.remove(sorted(set(kept) - self._referenced(kept)))

    def _referenced(self, hashes: list[str]) -> set[str]:
        read_only = self.log_path.resolve().as_uri() + "?mode=ro"  # as_uri escapes a '?' or '#' in the path
        conn = sqlite3.connect(read_only, uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            found = "select 1 from attachment_refs where sha256 = ?"
            return {sha for sha in hashes if conn.execute(found, [sha]).fetchone()}
        finally:
            conn.close()

    @staticmethod
    def _after(future: Future[int], what: str) -> Future[int]:
        """A failure is one WARNING line: the rows are already committed and stay whatever happens here."""

        def report(done: Future[int]) -> None:
            if done.exception() is not None:
                log.warning("%s in the blob store failed (the rows are kept): %s", what, done.exception())

        future.add_done_callback(report)
        return future
