"""Opening the log: connecting, write transactions, WAL, and applying the migrations (migrations.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from bot.store.migrations import TABLE, migrations
from bot.store.sqlite import has_fts5_secure_delete, sqlite3

BUSY_TIMEOUT_S = 5.0
FTS5_FORMAT_WITHOUT_SECURE_DELETE = 4  # fts5_index.c: a secure-delete makes it 5
WAL_SWITCH_RETRY_S = 0.02  # how often to try again for the exclusive lock that switching to WAL needs


class StoreError(RuntimeError):
    """The database file cannot be used at all; the message names the file."""


def connect(path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> Database:
    # Only one writer at a time: wait this long for the lock before calling it a fault.
    conn = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=False)
    # Deleted rows' bytes are overwritten with zeros, not left in free pages (a !forget must forget).
    # Debian's build has it on already; a build without SQLITE_SECURE_DELETE has it off.
    conn.execute("PRAGMA secure_delete = ON")
    return Database(conn)


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """BEGIN IMMEDIATE: take the write lock first, waiting out the busy timeout.

    A deferred BEGIN reads first, and its write then fails at once (SQLITE_BUSY_SNAPSHOT, no busy
    wait) whenever another writer committed in between. Litestream is such a writer (its
    _litestream_seq bookkeeping), so under replication rows were spooled and !forget failed.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def enable_wal(db: Database, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
    # Switching to WAL needs an exclusive lock, and SQLite reports "locked" at once
    # rather than waiting for it, so wait here as long as the busy timeout would.
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            db.enable_wal()
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_SWITCH_RETRY_S)


def check_fts_format(path: Path) -> None:
    """Refuse, in one line, a log whose index this SQLite's FTS5 cannot read or write.

    Once a delete has run with FTS5 'secure-delete' (SQLite 3.42+), the index's format is 5, which an
    older FTS5 refuses ("invalid fts5 file format (found 5, expected 4)"); so every process on the log
    must use bot/store/sqlite.py's SQLite (PRIVACY.md, "What a forget leaves"). Only reads: a log that
    is read-only at start opens (the option itself is set by each delete, log.py).
    """
    if has_fts5_secure_delete():
        return
    try:
        db = connect(path)
        try:
            refuse_a_newer_index(db, path)
        finally:
            db.close()
    except sqlite3.DatabaseError as err:
        raise StoreError(f"cannot read the search index's format in {path}: {err}") from err


def refuse_a_newer_index(db: Database, path: Path) -> None:
    """An index a secure-delete has run on (format 5) cannot be searched or written by this FTS5 (format 4)."""
    found = db.execute(f"select v from {TABLE}_fts_config where k = 'version'").fetchone()
    if found and found[0] > FTS5_FORMAT_WITHOUT_SECURE_DELETE:
        raise StoreError(
            f"{path}: its search index was written with FTS5 secure-delete, which SQLite "
            f"{sqlite3.sqlite_version} lacks: install pysqlite3-binary (requirements.txt)"
        )


UNDATED_SHOWN = 3  # rows an undated-rows refusal names; it counts them all


def refuse_undated_rows(db: Database, path: Path) -> None:
    """Refuse, in one line and before any change, a log with rows whose timestamp has no date SQLite reads.

    The per-day summaries (m012 on) key every row by date(timestamp); a NULL or free-text timestamp
    (possible in a log the original bot or a hand edit wrote) failed the whole migration with "NOT NULL
    constraint failed: usage_daily.day", and the bot could not start. No date is invented for them.
    """
    if not db.table(TABLE).exists():
        return
    undated = f"select id, timestamp from {TABLE} where date(timestamp) is null"
    count = db.execute(f"select count(*) from ({undated})").fetchone()[0]
    if not count:
        return
    rows = db.execute(f"{undated} limit {UNDATED_SHOWN}").fetchall()
    shown = ", ".join(f"id {row_id}: {'NULL' if stamp is None else repr(stamp)}" for row_id, stamp in rows)
    raise StoreError(
        f"{path}: {count} row(s) have a timestamp with no date SQLite can read ({shown}), and the per-day "
        f"summaries need one; nothing was changed. Give each its date (YYYY-MM-DD HH:MM:SS), e.g. with "
        f"sqlite3: UPDATE {TABLE} SET timestamp = '...' WHERE id = ...; then start again (docs/upgrading.md)"
    )


def migrate(path: Path) -> None:
    """Create or upgrade the schema and switch the file to WAL; raise StoreError naming the file."""
    try:
        db = connect(path)
        try:
            # The web process and the bot may both start now: one migrates, the other waits
            # for the lock and then finds nothing pending.
            db.conn.execute("BEGIN IMMEDIATE")
            try:
                if list(migrations.pending(db)):
                    refuse_undated_rows(db, path)
                migrations.apply(db)
            except BaseException:
                db.conn.execute("ROLLBACK")
                raise
            db.conn.execute("COMMIT")
            enable_wal(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as err:
        raise StoreError(f"cannot use {path} as the conversation log: {err}") from err
