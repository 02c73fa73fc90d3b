"""Bound what one query may return, so `sql_time_limit_ms` holds for huge values too.

Datasette's time limit is checked between SQLite instructions, and `randomblob(1000000000)` is one
instruction: it answered after ~30 s with 1.4 GB of memory. SQLite refuses any value longer than
SQLITE_LIMIT_LENGTH ("string or blob too big") before making it. Many large values in one answer
(`select zeroblob(4000000) from a thousand rows`) are each allowed, so the rows a query hands back are
counted too, and the query stops with an error once they pass MAX_QUERY_BYTES.
"""

from __future__ import annotations

import weakref

from datasette import hookimpl
from datasette.utils.sqlite import sqlite3  # pysqlite3 where it imports, as Datasette itself

# The largest value a query may make or read. A logged message is at most 4,000 characters (Discord,
# with Nitro) and a reply about 1,024 tokens, so real values stay under 20 KB: 200 times that is room.
MAX_VALUE_BYTES = 4 * 1024 * 1024
# Everything one query may return: a full page (max_returned_rows 1000) of rows of up to 64 KB each.
# The streamed CSV asks one page at a time, so it is not bounded by this.
MAX_QUERY_BYTES = 64 * 1024 * 1024

_returned: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def size(value) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 8


def counted_row(cursor: sqlite3.Cursor, row: tuple) -> sqlite3.Row:
    """Datasette's sqlite3.Row, after adding the row's size to its query's total."""
    total = _returned.get(cursor, 0) + sum(size(value) for value in row)
    if total > MAX_QUERY_BYTES:
        raise sqlite3.DataError(
            f"this query returns more than {MAX_QUERY_BYTES // 2**20} MB: ask for fewer rows or columns"
        )
    _returned[cursor] = total
    return sqlite3.Row(cursor, row)


SQLITE_LIMIT_LENGTH = 0  # sqlite3.h (pysqlite3 0.5 does not export the constant)
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

    import pysqlite3._sqlite3 as extension

    sqlite3_limit = ctypes.CDLL(extension.__file__).sqlite3_limit
    sqlite3_limit.restype, sqlite3_limit.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    handle = ctypes.c_void_p.from_address(id(conn) + ctypes.sizeof(ctypes.c_void_p) * 2).value
    now = sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, -1)
    if now not in (SQLITE_DEFAULT_MAX_LENGTH, limit):
        raise RuntimeError(f"pysqlite3 {sqlite3.sqlite_version}: cannot set SQLITE_LIMIT_LENGTH (read back {now})")
    sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, limit)


@hookimpl
def prepare_connection(conn):
    set_length_limit(conn, MAX_VALUE_BYTES)  # pysqlite3 (Datasette prefers it) has no setlimit
    conn.row_factory = counted_row
