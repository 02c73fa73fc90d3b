"""The permanent conversation log: schema, reads, and a writer thread that never loses a row.

Nothing here knows about Discord or asyncio. Writes are handed to one writer
thread that commits them in groups; when SQLite refuses a write (locked, disk
full, read-only) the rows go to an append-only spool file beside the database
and are replayed on the next successful write, every few seconds, and at start-up.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from sqlite_utils import Database, Migrations

from .queries import HISTORY_SQL, MODELS_SQL, STATS_SQL

log = logging.getLogger(__name__)

TABLE = "conversations"
SPEC_COLUMNS = (
    "id", "user_id", "user_name", "channel_id", "user_message", "bot_response",
    "timestamp", "tokens_used", "model_used",
)
ADDED_COLUMNS = {
    "guild_id": str,
    "display_name": str,
    "message_id": str,
    "input_tokens": int,
    "output_tokens": int,
    "latency_ms": int,
    "conversation_id": str,
}
BUSY_TIMEOUT_S = 5.0
WAL_LIMIT_BYTES = 16 * 1024 * 1024


def utc_now_text(moment: datetime | None = None) -> str:
    """UTC in SQLite's own `YYYY-MM-DD HH:MM:SS` form, so it compares right with datetime('now')."""
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Exchange:
    """One user message and the bot's reply, as it is logged."""

    user_id: str
    user_name: str
    channel_id: str
    user_message: str
    bot_response: str
    model_used: str
    message_id: str
    timestamp: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int | None = None
    guild_id: str | None = None
    display_name: str | None = None
    conversation_id: str | None = None

    def row(self) -> dict:
        row = dict(vars(self))  # every field is a str or int: no need for asdict's deep copy
        row["timestamp"] = self.timestamp or utc_now_text()
        row["tokens_used"] = self.input_tokens + self.output_tokens
        return row


migrations = Migrations("conversation_log")


@migrations()
def m001_conversations(db: Database) -> None:
    # IF NOT EXISTS adopts a database made by the original conversation_logger.py.
    db.execute(
        """CREATE TABLE IF NOT EXISTS conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            user_name TEXT,
            channel_id TEXT,
            user_message TEXT,
            bot_response TEXT,
            timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
            tokens_used INTEGER DEFAULT 0,
            model_used TEXT
        )"""
    )


@migrations()
def m002_analysis_columns(db: Database) -> None:
    table = db[TABLE]
    for name, kind in ADDED_COLUMNS.items():
        if name not in table.columns_dict:
            table.add_column(name, kind)


@migrations()
def m003_indexes(db: Database) -> None:
    table = db[TABLE]
    table.create_index(["message_id"], unique=True, if_not_exists=True)
    table.create_index(["timestamp"], if_not_exists=True)
    table.create_index(["model_used"], if_not_exists=True)
    table.create_index(["user_id", "timestamp"], if_not_exists=True)
    # NOCASE so `!history alice` finds "Alice" through the index.
    for column in ("user_name", "display_name"):
        db.execute(
            f"CREATE INDEX IF NOT EXISTS idx_conversations_{column}_nocase "
            f"ON conversations ({column} COLLATE NOCASE, timestamp)"
        )


@migrations()
def m004_full_text_search(db: Database) -> None:
    # Triggers keep the index current on insert, update and delete, so Datasette's search box works.
    db[TABLE].enable_fts(["user_message", "bot_response"], create_triggers=True)


@migrations()
def m005_opt_outs(db: Database) -> None:
    db["opt_outs"].create({"user_id": str, "opted_out_at": str}, pk="user_id")


@migrations()
def m006_ratings_and_threads(db: Database) -> None:
    # The bot's reply message id, so a 👍/👎 on it finds its exchange.
    db[TABLE].add_column("reply_message_id", str)
    db[TABLE].create_index(["reply_message_id"], if_not_exists=True)
    db[TABLE].create_index(["conversation_id", "timestamp"], if_not_exists=True)
    db["ratings"].create(
        {"reply_message_id": str, "rater_id": str, "value": int, "rated_at": str},
        pk=("reply_message_id", "rater_id"),
    )


STATS_ADD = """
  UPDATE stats_totals SET conversations = conversations + 1, tokens = tokens + coalesce(new.tokens_used, 0);
  INSERT INTO stats_users VALUES (new.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET conversations = conversations + 1;
  INSERT INTO stats_models VALUES (ifnull(new.model_used, ''), 1, coalesce(new.tokens_used, 0))
    ON CONFLICT (model_used) DO UPDATE SET conversations = conversations + 1, tokens = tokens + excluded.tokens;
"""
STATS_REMOVE = """
  UPDATE stats_totals SET conversations = conversations - 1, tokens = tokens - coalesce(old.tokens_used, 0);
  UPDATE stats_users SET conversations = conversations - 1 WHERE user_id = old.user_id;
  DELETE FROM stats_users WHERE user_id = old.user_id AND conversations <= 0;
  UPDATE stats_models SET conversations = conversations - 1, tokens = tokens - coalesce(old.tokens_used, 0)
    WHERE model_used = ifnull(old.model_used, '');
  DELETE FROM stats_models WHERE model_used = ifnull(old.model_used, '') AND conversations <= 0;
"""


@migrations()
def m007_stats_summary(db: Database) -> None:
    """Totals kept by triggers, so !stats reads a few rows instead of scanning a million."""
    db.executescript(f"""
    CREATE TABLE stats_totals (id INTEGER PRIMARY KEY CHECK (id = 1), conversations INTEGER NOT NULL,
                               tokens INTEGER NOT NULL);
    CREATE TABLE stats_users (user_id TEXT PRIMARY KEY, conversations INTEGER NOT NULL);
    CREATE TABLE stats_models (model_used TEXT NOT NULL PRIMARY KEY, conversations INTEGER NOT NULL,
                               tokens INTEGER NOT NULL);
    INSERT INTO stats_totals SELECT 1, count(*), coalesce(sum(tokens_used), 0) FROM conversations;
    INSERT INTO stats_users SELECT user_id, count(*) FROM conversations GROUP BY user_id;
    INSERT INTO stats_models SELECT ifnull(model_used, ''), count(*), coalesce(sum(tokens_used), 0)
      FROM conversations GROUP BY ifnull(model_used, '');
    CREATE TRIGGER stats_after_insert AFTER INSERT ON conversations BEGIN {STATS_ADD} END;
    CREATE TRIGGER stats_after_delete AFTER DELETE ON conversations BEGIN {STATS_REMOVE} END;
    CREATE TRIGGER stats_after_update AFTER UPDATE OF user_id, model_used, tokens_used ON conversations
      BEGIN {STATS_REMOVE} {STATS_ADD} END;
    """)


# Datasette's default facets; plugins/counted_facets.py reads their counts from facet_counts.
FACET_COLUMNS = ("model_used", "user_name", "channel_id")


def _facet_counts_sql(row: str, step: int) -> str:
    """Trigger statements adding (step 1) or removing (step -1) the facet values of `row` (new/old)."""
    if step > 0:
        return "".join(
            f"INSERT INTO facet_counts SELECT '{column}', {row}.{column}, 1 WHERE {row}.{column} IS NOT NULL "
            "ON CONFLICT (facet, value) DO UPDATE SET conversations = conversations + 1;\n"
            for column in FACET_COLUMNS)
    return "".join(
        f"UPDATE facet_counts SET conversations = conversations - 1 WHERE {_facet_key(row, column)};\n"
        f"DELETE FROM facet_counts WHERE {_facet_key(row, column)} AND conversations <= 0;\n"
        for column in FACET_COLUMNS)


def _facet_key(row: str, column: str) -> str:
    return f"facet = '{column}' AND value = {row}.{column}"


@migrations()
def m008_facet_counts(db: Database) -> None:
    """Counts behind the Datasette table page's facets, which would otherwise each scan every row."""
    backfill = "".join(f"INSERT INTO facet_counts SELECT '{column}', {column}, count(*) FROM conversations "
                       f"WHERE {column} IS NOT NULL GROUP BY {column};\n" for column in FACET_COLUMNS)
    db.executescript(f"""
    -- value has no declared type, so each keeps the type it has in conversations.
    CREATE TABLE facet_counts (facet TEXT NOT NULL, value NOT NULL, conversations INTEGER NOT NULL,
                               PRIMARY KEY (facet, value)) WITHOUT ROWID;
    {backfill}
    CREATE TRIGGER facet_counts_after_insert AFTER INSERT ON conversations BEGIN {_facet_counts_sql("new", 1)} END;
    CREATE TRIGGER facet_counts_after_delete AFTER DELETE ON conversations BEGIN {_facet_counts_sql("old", -1)} END;
    CREATE TRIGGER facet_counts_after_update AFTER UPDATE OF {", ".join(FACET_COLUMNS)} ON conversations
      BEGIN {_facet_counts_sql("old", -1)} {_facet_counts_sql("new", 1)} END;
    """)


@migrations()
def m009_facet_filter_indexes(db: Database) -> None:
    # A click on a user_name or channel_id facet filters with `=`, which the NOCASE index cannot serve.
    for column in ("user_name", "channel_id"):
        db[TABLE].create_index([column], if_not_exists=True)


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


class StoreError(RuntimeError):
    """The database file cannot be used at all; the message names the file."""


def connect(path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> Database:
    # Only one writer at a time: wait this long for the lock before calling it a fault.
    conn = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=False)
    return Database(conn)


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
            time.sleep(0.02)


def migrate(path: Path) -> None:
    """Create or upgrade the schema and switch the file to WAL; raise StoreError naming the file."""
    try:
        db = connect(path)
        try:
            # The web process and the bot may both start now: one migrates, the other waits
            # for the lock and then finds nothing pending.
            db.conn.execute("BEGIN IMMEDIATE")
            try:
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


class Spool:
    """Append-only JSON-lines file of rows that could not be written to SQLite yet.

    Beside it sits a reserve file holding some disk space: when the disk is full, the
    reserve is deleted to make room, so spooled rows still reach the disk.
    """

    RESERVE_BYTES = 1 << 20  # about 1,500 exchanges

    def __init__(self, path: Path):
        self.path = path
        self.reserve = path.with_name(path.name + ".reserve")
        self._reserve_warned = False

    def keep_reserve(self) -> None:
        if self.reserve.exists():
            return
        try:
            with open(self.reserve, "wb") as handle:
                handle.write(b"\0" * self.RESERVE_BYTES)
        except OSError as err:
            self.reserve.unlink(missing_ok=True)
            # Once per outage: it is retried after every successful write until it works.
            log.log(logging.DEBUG if self._reserve_warned else logging.WARNING,
                    "cannot keep %s for a full disk: %s", self.reserve, err)
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
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    # A process killed mid-append leaves half a line; the rest is intact.
                    log.warning("skipping unreadable line %d of spool %s", number, self.path)
        return rows

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


_STOP = object()


@dataclass
class _Job:
    """Work for the writer thread, in order with the rows around it, in one transaction."""

    work: Callable[[Database], object]
    future: Future

    def run_on(self, db: Database) -> None:
        try:
            with write_transaction(db):
                result = self.work(db)
        except sqlite3.Error as err:
            self.future.set_exception(err)
        else:
            self.future.set_result(result)


class ConversationLog:
    """The `conversations` table: reads on the caller's thread, writes on one writer thread."""

    def __init__(self, path: Path, *, checkpoint_seconds: float = 30.0, max_batch: int = 1000,
                 busy_timeout: float = BUSY_TIMEOUT_S, wal_limit_bytes: int = WAL_LIMIT_BYTES,
                 own_checkpoints: bool = True):
        self.path = Path(path)
        # False under Litestream, which must own checkpoints: see bot/replication.py.
        self.own_checkpoints = own_checkpoints
        self.wal_limit_bytes = wal_limit_bytes
        self.busy_timeout = busy_timeout
        self.spool = Spool(self.path.with_name(self.path.name + ".spool.jsonl"))
        self.checkpoint_seconds = checkpoint_seconds
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._unsaved: list[dict] = []
        self._thread: threading.Thread | None = None
        self._accepting = False
        self._gate = threading.Lock()  # no row may slip into the queue behind the stop marker

    # -- life cycle -------------------------------------------------------

    def open(self) -> "ConversationLog":
        migrate(self.path)
        self.spool.keep_reserve()
        self._thread = threading.Thread(target=self._writer, name="conversation-log-writer", daemon=True)
        self._thread.start()
        self._accepting = True
        return self

    def close(self) -> None:
        """Write everything handed over so far, then stop the writer."""
        with self._gate:
            self._accepting = False
            self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "ConversationLog":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ----------------------------------------------------------

    def submit(self, exchange: Exchange) -> Future:
        """Hand a row to the writer; the future resolves to 'logged' or 'spooled' once it is durable."""
        future: Future = Future()
        with self._gate:
            if self._accepting:
                self._queue.put((exchange, future))  # turned into a row on the writer thread
                return future
        # Closed (or never opened): the spool keeps it until the next start.
        future.set_result(self._spool([exchange.row()]))
        return future

    def run_job(self, work: Callable[[Database], object]) -> Future:
        """Run `work(db)` on the writer thread after everything handed over before it."""
        future: Future = Future()
        with self._gate:
            if not self._accepting:
                raise StoreError(f"the conversation log {self.path} is closed")
            self._queue.put(_Job(work, future))
        return future

    def forget(self, user_id: str) -> Future:
        """Delete every exchange of a user: the table, the search index, the spool. Resolves to the count."""
        def work(db: Database) -> int:
            db.execute("delete from ratings where rater_id = ? or reply_message_id in "
                       f"(select reply_message_id from {TABLE} where user_id = ?)", [user_id, user_id])
            deleted = db.execute(f"delete from {TABLE} where user_id = ?", [user_id]).rowcount
            return deleted + self._drop_unwritten(lambda row: row["user_id"] != user_id)
        return self.run_job(work)

    def delete_older_than(self, days: float) -> Future:
        """Retention: delete exchanges older than `days`. Resolves to the count."""
        cutoff = utc_now_text(datetime.now(timezone.utc) - timedelta(days=days))
        def work(db: Database) -> int:
            deleted = db.execute(f"delete from {TABLE} where timestamp < ?", [cutoff]).rowcount
            return deleted + self._drop_unwritten(lambda row: row["timestamp"] >= cutoff)
        return self.run_job(work)

    def set_reply_id(self, message_id: str, reply_message_id: str) -> Future:
        return self.run_job(lambda db: db.execute(
            f"update {TABLE} set reply_message_id = ? where message_id = ?", [reply_message_id, message_id]))

    def rate(self, reply_message_id: str, rater_id: str, value: int) -> Future:
        """Record a rater's latest rating of a logged reply; resolves to whether it was one."""
        def work(db: Database) -> bool:
            return db.execute(
                "insert or replace into ratings (reply_message_id, rater_id, value, rated_at) "
                f"select ?, ?, ?, ? where exists (select 1 from {TABLE} where reply_message_id = ?)",
                [reply_message_id, rater_id, value, utc_now_text(), reply_message_id]).rowcount > 0
        return self.run_job(work)

    def unrate(self, reply_message_id: str, rater_id: str, value: int) -> Future:
        """Remove the rating if it is still the one taken back (a later 👎 survives removing 👍)."""
        return self.run_job(lambda db: db.execute(
            "delete from ratings where reply_message_id = ? and rater_id = ? and value = ?",
            [reply_message_id, rater_id, value]).rowcount)

    def set_opted_out(self, user_id: str, opted_out: bool) -> Future:
        def work(db: Database) -> None:
            if opted_out:
                db.execute("insert or ignore into opt_outs (user_id, opted_out_at) values (?, ?)",
                           [user_id, utc_now_text()])
            else:
                db.execute("delete from opt_outs where user_id = ?", [user_id])
        return self.run_job(work)

    def _drop_unwritten(self, keep: Callable[[dict], bool]) -> int:
        unsaved = len(self._unsaved)
        self._unsaved = [row for row in self._unsaved if keep(row)]
        return unsaved - len(self._unsaved) + self.spool.keep_only(keep)

    def _writer(self) -> None:
        db = connect(self.path, self.busy_timeout)
        if not self.own_checkpoints:
            db.execute("PRAGMA wal_autocheckpoint = 0")  # nor SQLite's automatic PASSIVE ones
        last_checkpoint = time.monotonic()
        try:
            self._flush(db, [])  # replay what an earlier run spooled
            stop = False
            while not stop:
                batch, stop = self._next_batch()
                self._flush(db, batch)
                if stop or self._wal_too_big() or time.monotonic() - last_checkpoint >= self.checkpoint_seconds:
                    self._checkpoint(db)
                    last_checkpoint = time.monotonic()
        finally:
            db.close()

    def _next_batch(self) -> tuple[list, bool]:
        """Everything queued right now (group commit), and whether close() was asked for."""
        try:
            batch = [self._queue.get(timeout=self.checkpoint_seconds)]
        except queue.Empty:
            return [], False  # idle: a chance to retry the spool and checkpoint
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        stop = any(item is _STOP for item in batch)
        return [item for item in batch if item is not _STOP], stop

    def _flush(self, db: Database, batch: list) -> None:
        """Write rows and run jobs in the order they were handed over."""
        rows: list = []
        for item in batch:
            if isinstance(item, _Job):
                self._write_rows(db, rows)
                rows = []
                item.run_on(db)
            else:
                rows.append(item)
        self._write_rows(db, rows)

    def _write_rows(self, db: Database, items: list) -> None:
        outcome = self._write_with_spool(db, [exchange.row() for exchange, _ in items])
        for _, future in items:
            future.set_result(outcome)

    def _write_with_spool(self, db: Database, rows: list[dict]) -> str:
        backlog = self._unsaved + self.spool.read()
        if not backlog and not rows:
            return "logged"
        try:
            with write_transaction(db):
                db[TABLE].insert_all(backlog + rows, ignore=True)
        except sqlite3.Error as err:
            log.warning("conversation log %s not writable (%s); spooling %d row(s)", self.path, err, len(rows))
            return self._spool(rows)
        self._unsaved = []
        if backlog:
            self.spool.clear()
            log.info("replayed %d spooled row(s) into %s", len(backlog), self.path)
        self.spool.keep_reserve()
        return "logged"

    def _spool(self, rows: list[dict]) -> str:
        if not rows:
            return "spooled"
        try:
            self.spool.append(rows)
            return "spooled"
        except OSError as err:
            # Disk full for the spool too: hold the rows in memory and retry on the next tick.
            log.error("cannot spool to %s (%s); holding %d row(s) in memory", self.spool.path, err, len(rows))
            self._unsaved.extend(rows)
            return "held"

    def _wal_too_big(self) -> bool:
        # Under steady writes with readers, SQLite's own checkpoints cannot reset the WAL, so it
        # grows (339 MB in 60 s in bench/); truncating it at this size keeps it bounded.
        try:
            return os.path.getsize(f"{self.path}-wal") > self.wal_limit_bytes
        except OSError:
            return False

    def _checkpoint(self, db: Database) -> None:
        # TRUNCATE keeps the -wal file small while Datasette holds read transactions open.
        if not self.own_checkpoints:
            return
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as err:
            log.debug("checkpoint skipped: %s", err)

    # -- reading ----------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Database]:
        """A read-only connection of the caller's thread, closed afterwards."""
        db = connect(self.path, self.busy_timeout)
        try:
            db.execute("PRAGMA query_only = 1")
            yield db
        finally:
            db.close()

    def stats(self) -> dict:
        with self._reading() as db:
            figures = next(db.query(STATS_SQL))
            figures["models"] = list(db.query(MODELS_SQL))
            return figures

    def history(self, user: str, limit: int = 10) -> list[dict]:
        """The last `limit` exchanges of the user whose id, user name or display name is `user`."""
        return self.query(HISTORY_SQL, {"user": user, "limit": limit})

    def query(self, sql: str, params: list | dict = ()) -> list[dict]:
        """Rows of any read-only query, as dicts."""
        with self._reading() as db:
            return list(db.query(sql, params))

    def opted_out_ids(self) -> set[str]:
        return {row["user_id"] for row in self.query("select user_id from opt_outs")}

    def count_for_user(self, user_id: str) -> int:
        return self.query(f"select count(*) as n from {TABLE} where user_id = ?", [user_id])[0]["n"]

    def backup(self, target: Path) -> None:
        """A consistent copy of the live database, taken while the bot may be writing."""
        db = connect(self.path, self.busy_timeout)
        try:
            db.execute("VACUUM INTO ?", [str(target)])
        finally:
            db.close()

    def export_rows(self, selection: "Selection | None" = None, order: str = "id") -> Iterator[list]:
        """The header, then every selected row, streamed from a cursor."""
        where, params = (selection or Selection()).where()
        with self._reading() as db:
            cursor = db.execute(f"select * from {TABLE} c where {where} order by {order}", params)
            yield [column[0] for column in cursor.description]
            yield from cursor

    def csv_chunks(self, selection: "Selection | None" = None, limit: int | None = None,
                   chunk_rows: int = 5000) -> Iterator[tuple[bytes, int]]:
        """The CSV export as (bytes, rows) chunks: the header, then the rows in id order.

        SQLite formats each line and joins a chunk of them itself, so Python only moves a few
        large byte strings: about 1.3x the sqlite3 CLI, where csv.writer over a cursor is 4x.
        Text is always quoted, numbers never; a CSV reader gets the same values as from
        csv.writer (NULL text reads as an empty string either way).
        """
        where, params = (selection or Selection()).where()
        with self._reading() as db:
            columns = [(row[1], row[2]) for row in db.execute(f"pragma table_info({TABLE})")]
            line = _csv_line(columns)
            chunk_sql = (f"select cast(group_concat(line, '') as blob), count(*), max(id) from "
                         f"(select c.id, {line} as line from {TABLE} c where {where} and c.id > :after "
                         f"order by c.id limit :size)")
            yield (",".join(name for name, _ in columns) + "\r\n").encode("utf-8"), 0
            after, left = 0, limit if limit is not None else float("inf")
            while left > 0:
                text, count, after = db.execute(chunk_sql, {**params, "after": after,
                                                            "size": int(min(chunk_rows, left))}).fetchone()
                if not count:
                    return
                yield text, count
                left -= count

    def models(self) -> set[str]:
        return {row["model_used"] for row in self.query(f"select distinct model_used from {TABLE}")}


def _csv_line(columns: list[tuple[str, str]]) -> str:
    """SQL for one CSV line of a row, given (name, declared type) of each column.

    One printf per line is twice as fast as `||` and replace(), but printf stops at a NUL
    character, so rows holding one take the exact, slower form.
    """
    numeric = {name for name, declared in columns if declared.upper() in ("INTEGER", "REAL")}
    quoted = {name: f"""'"' || replace("{name}", '"', '""') || '"'""" for name, _ in columns}
    formats = ",".join("%s" if name in numeric else '"%w"' for name, _ in columns)
    fast_values = ", ".join(_as_number(name, quoted[name]) if name in numeric else f"""ifnull("{name}", '')"""
                            for name, _ in columns)
    exact = " || ',' || ".join(_as_number(name, quoted[name]) if name in numeric
                               else f"ifnull({quoted[name]}, '')" for name, _ in columns)
    has_nul = " or ".join(f"""(typeof("{name}") = 'text' and instr("{name}", char(0)))""" if name in numeric
                          else f"""instr("{name}", char(0))""" for name, _ in columns)
    return f"iif({has_nul}, {exact}, printf('{formats}', {fast_values})) || char(13, 10)"


def _as_number(name: str, quoted_text: str) -> str:
    # A numeric column can still hold text written by another tool; quote it then, or a comma in it
    # would shift every later field.
    return f"""iif(typeof("{name}") = 'text', {quoted_text}, ifnull("{name}", ''))"""


@dataclass(frozen=True)
class Selection:
    """Which exchanges an export takes. Dates are UTC `YYYY-MM-DD[ HH:MM:SS]`, `until` exclusive."""

    since: str | None = None
    until: str | None = None
    user: str | None = None
    channel: str | None = None
    model: str | None = None
    exclude_fallback: bool = False
    min_rating: int | None = None

    def where(self) -> tuple[str, dict]:
        clauses = {
            "c.timestamp >= :since": self.since,
            "c.timestamp < :until": self.until,
            "(c.user_id = :user or c.user_name = :user collate nocase)": self.user,
            "c.channel_id = :channel": self.channel,
            "c.model_used = :model": self.model,
            "c.model_used != 'static_fallback'": self.exclude_fallback or None,
            "coalesce((select sum(value) from ratings r where r.reply_message_id = c.reply_message_id), 0)"
            " >= :min_rating": self.min_rating,
        }
        chosen = [clause for clause, value in clauses.items() if value is not None]
        params = {"since": self.since, "until": self.until, "user": self.user, "channel": self.channel,
                  "model": self.model, "min_rating": self.min_rating}
        return " and ".join(chosen) or "1", {k: v for k, v in params.items() if f":{k}" in " ".join(chosen)}
