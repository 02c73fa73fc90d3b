"""The one SQLite module of the whole bot: pysqlite3's newer SQLite where its wheel installs, else the standard
library's.

Python's own sqlite3 links the system's SQLite (3.40.1 on Debian 12), whose FTS5 has no 'secure-delete'
(3.42+), so a forget there must rewrite the whole search index ('optimize'). pysqlite3-binary (Linux x86_64
only, requirements.txt) brings a newer one. sqlite-utils and Datasette already prefer pysqlite3 when it
imports, so every connection to the log in a process uses the same SQLite, and every `except sqlite3.Error`
catches its errors (pysqlite3's classes are not the standard library's).
"""

from __future__ import annotations

from functools import cache

try:
    import pysqlite3.dbapi2 as sqlite3
except ImportError:
    import sqlite3

__all__ = ["commit_for_litestream", "has_fts5_secure_delete", "sqlite3"]

# Under Litestream a commit must reach SQLite's shared index at once after its frames reach the WAL file.
# With SQLite's default synchronous=FULL a commit writes its frames, then fsyncs (milliseconds), then
# publishes them; Litestream reads the WAL file itself, so it ships a commit it sees in that window. A
# process killed there (SIGKILL, the OOM killer, a platform's hard stop) leaves a commit SQLite never
# published: the next writer overwrites those frames, Litestream finds "wal overwritten by another process",
# and the snapshot it then uploads restored with broken indexes and rows missing (Litestream 0.5.17;
# tests/test_replication_process.py's `all` test, whose SIGKILL lands right after an answer, failed about
# 1 run in 2). NORMAL syncs the WAL at checkpoints only, which Litestream owns: the window shrinks to the
# gap between two system calls (12 of 12 runs passed), and a killed process still loses nothing; only a
# power cut may lose the last commits here, which Litestream has copied off the machine within its sync
# interval. Litestream's own advice is NORMAL (litestream.io/tips, "Synchronous PRAGMA").
SYNCHRONOUS_UNDER_LITESTREAM = "NORMAL"


def commit_for_litestream(conn: sqlite3.Connection) -> None:
    """Make this writing connection's commits safe to replicate (the comment above says why)."""
    conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS_UNDER_LITESTREAM}")


@cache
def has_fts5_secure_delete() -> bool:
    """Whether this SQLite's FTS5 accepts the 'secure-delete' option: tried, not read from the version."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("create virtual table probe using fts5(x)")
        conn.execute("insert into probe(probe, rank) values ('secure-delete', 1)")
        return True
    except sqlite3.Error:  # 3.40: "SQL logic error" for an unknown option
        return False
    finally:
        conn.close()
