"""The log's hot path: new rows into `conversations` in multi-row INSERT statements.

The table is made, migrated and read through sqlite-utils; only this insert builds its own SQL. sqlite-utils'
`insert_all` caps a statement at 999 variables (its SQLITE_MAX_VARS, for SQLite before 3.32): 35 rows of the
log's 28 columns. Measured on 20,000 generated rows with every trigger and the search index, CPU per row
(3 runs, 2026-11-30): insert_all 107-118 us; the same rows 35 to a statement 89-98 us, 200 to a statement
77-81 us, 1,000 to a statement 70-79 us. Each row's values are taken as they are (a str, int, float or
None: Exchange.row() and the spool give nothing else), so there is no per-value conversion either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import quote_identifier

from bot.store.migrations import TABLE

SQLITE_MAX_VARIABLES = 32766  # SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32 (2020)
ROWS_PER_STATEMENT = 500  # between the 200 and 1,000 measured above; a statement of 28 columns binds 14,000


def insert_rows(db: Database, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT OR IGNORE every row (the unique message id: never twice), in the caller's transaction.

    A row without a column (one spooled before a migration added it) gets NULL there, as insert_all did.
    """
    columns = list(dict.fromkeys(column for row in rows for column in row))
    if not columns:
        return
    per_statement = max(1, min(ROWS_PER_STATEMENT, SQLITE_MAX_VARIABLES // len(columns)))
    names = ", ".join(quote_identifier(column) for column in columns)  # a spool file's keys are text from disk
    one_row = "(" + ", ".join("?" * len(columns)) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = f"INSERT OR IGNORE INTO {TABLE} ({names}) VALUES {', '.join([one_row] * len(chunk))}"
        db.conn.execute(sql, [row.get(column) for row in chunk for column in columns])
