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

from bot.store.sqlite import set_length_limit, sqlite3

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
        raise sqlite3.DataError(f"this query returns more than {MAX_QUERY_BYTES // 2**20} MB: "
                                "ask for fewer rows or columns")
    _returned[cursor] = total
    return sqlite3.Row(cursor, row)


@hookimpl
def prepare_connection(conn):
    set_length_limit(conn, MAX_VALUE_BYTES)  # pysqlite3 (Datasette prefers it) has no setlimit
    conn.row_factory = counted_row
