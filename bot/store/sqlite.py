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

__all__ = ["has_fts5_secure_delete", "sqlite3"]


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
