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
    import pysqlite3.dbapi2 as sqlite3  # type: ignore[import-not-found]
except ImportError:
    import sqlite3  # type: ignore[no-redef]

__all__ = ["has_fts5_secure_delete", "set_length_limit", "sqlite3"]


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


SQLITE_LIMIT_LENGTH = 0  # sqlite3.h
SQLITE_DEFAULT_MAX_LENGTH = 1_000_000_000  # sqlite3.h's SQLITE_MAX_LENGTH, what a new connection starts with


def set_length_limit(conn, limit: int) -> None:
    """Connection.setlimit(SQLITE_LIMIT_LENGTH, limit), also on pysqlite3 0.5, whose Connection lacks setlimit.

    There, sqlite3_limit of the extension's own SQLite is called on the connection's handle, the first field
    after PyObject_HEAD in pysqlite3's Connection struct (src/connection.h). The limit read back first must
    be SQLite's default, or the handle is not what it seems and this refuses, in one line.
    """
    if hasattr(conn, "setlimit"):
        conn.setlimit(SQLITE_LIMIT_LENGTH, limit)
        return
    import ctypes

    import pysqlite3._sqlite3 as extension  # type: ignore[import-not-found]
    sqlite3_limit = ctypes.CDLL(extension.__file__).sqlite3_limit
    sqlite3_limit.restype, sqlite3_limit.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    handle = ctypes.c_void_p.from_address(id(conn) + ctypes.sizeof(ctypes.c_void_p) * 2).value
    now = sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, -1)
    if now not in (SQLITE_DEFAULT_MAX_LENGTH, limit):
        raise RuntimeError(f"pysqlite3 {sqlite3.sqlite_version}: cannot set SQLITE_LIMIT_LENGTH (read back {now})")
    sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, limit)
