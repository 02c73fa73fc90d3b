"""Which rows an export takes, and the rows themselves, streamed; the CSV built by SQLite itself."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqlite_utils import Database

from bot.store.exchange import FALLBACK_MODEL
from bot.store.migrations import TABLE
from bot.store.scope import Params, Scope

CSV_CHUNK_ROWS = 5000


class Order(Enum):
    """The orders an export may stream in: the SQL is ours, never a caller's string."""

    ID = "c.id"
    CONVERSATION = "c.conversation_id, c.timestamp, c.id"  # each conversation's turns together, in order


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
    scope: Scope = field(default_factory=Scope.everything)  # whose rows the caller may take at all

    def where(self) -> tuple[str, Params]:
        """SQL over `conversations c`, with every parameter it names, built clause by clause."""
        scope_sql, params = self.scope.where()
        clauses = [scope_sql]
        for clause, name, value in (
            ("c.timestamp >= :since", "since", self.since),
            ("c.timestamp < :until", "until", self.until),
            ("(c.user_id = :user or c.user_name = :user collate nocase)", "user", self.user),
            ("c.channel_id = :channel", "channel", self.channel),
            ("c.model_used = :model", "model", self.model),
            (
                "coalesce((select sum(value) from ratings r where r.reply_message_id = c.reply_message_id), 0)"
                " >= :min_rating",
                "min_rating",
                self.min_rating,
            ),
            ("c.model_used != :fallback", "fallback", FALLBACK_MODEL if self.exclude_fallback else None),
        ):
            if value is not None:
                clauses.append(clause)
                params[name] = value
        return " and ".join(clauses), params


def count(db: Database, selection: Selection) -> int:
    where, params = selection.where()
    return int(db.execute(f"select count(*) from {TABLE} c where {where}", params).fetchone()[0])


def export_rows(
    db: Database, selection: Selection, order: Order = Order.ID, *, rated: bool = False, prompts: bool = False
) -> Iterator[Sequence[Any]]:
    """The header, then every selected row, streamed from a cursor; `rated` adds a column, `rating`: the
    reply's net 👍 minus 👎, None when unrated; `prompts` adds `system_prompt_text`, the text of the row's
    system prompt version (m021), None where the log does not know it (request_state 'unknown')."""
    where, params = selection.where()
    rating = (
        ", (select sum(r.value) from ratings r where r.reply_message_id = c.reply_message_id) as rating"
        if rated
        else ""
    )
    prompt = ", (select p.text from system_prompts p where p.id = c.system_prompt_id) as system_prompt_text"
    columns = f"c.*{rating}{prompt if prompts else ''}"
    cursor = db.execute(f"select {columns} from {TABLE} c where {where} order by {order.value}", params)
    yield [column[0] for column in cursor.description]
    yield from cursor


def csv_chunks(
    db: Database, selection: Selection, limit: int | None = None, chunk_rows: int = CSV_CHUNK_ROWS
) -> Iterator[tuple[bytes, int]]:
    """The CSV export as (bytes, rows) chunks: the header, then the rows in id order.

    SQLite formats each line and joins a chunk of them itself, so Python only moves a few
    large byte strings: about 1.3x the sqlite3 CLI, where csv.writer over a cursor is 4x.
    Text is always quoted, numbers never; a CSV reader gets the same values as from
    csv.writer (NULL text reads as an empty string either way).
    """
    where, params = selection.where()
    columns = [(row[1], row[2]) for row in db.execute(f"pragma table_info({TABLE})")]
    chunk_sql = (
        f"select cast(group_concat(line, '') as blob), count(*), max(id) from "
        f"(select c.id, {csv_line(columns)} as line from {TABLE} c where {where} and c.id > :after "
        f"order by c.id limit :size)"
    )
    yield (",".join(name for name, _ in columns) + "\r\n").encode("utf-8"), 0
    after, left = 0, limit if limit is not None else float("inf")
    while left > 0:
        text, rows, after = db.execute(
            chunk_sql, {**params, "after": after, "size": int(min(chunk_rows, left))}
        ).fetchone()
        if not rows:
            return
        yield text, rows
        left -= rows


def csv_line(columns: list[tuple[str, str]]) -> str:
    """SQL for one CSV line of a row, given (name, declared type) of each column.

    One printf per line is twice as fast as `||` and replace(), but printf stops at a NUL
    character, so rows holding one take the exact, slower form.
    """
    numeric = {name for name, declared in columns if declared.upper() in ("INTEGER", "REAL")}
    quoted = {name: f"""'"' || replace("{name}", '"', '""') || '"'""" for name, _ in columns}
    formats = ",".join("%s" if name in numeric else '"%w"' for name, _ in columns)
    fast_values = ", ".join(
        _as_number(name, quoted[name]) if name in numeric else f"""ifnull("{name}", '')""" for name, _ in columns
    )
    exact = " || ',' || ".join(
        _as_number(name, quoted[name]) if name in numeric else f"ifnull({quoted[name]}, '')" for name, _ in columns
    )
    has_nul = " or ".join(
        f"""(typeof("{name}") = 'text' and instr("{name}", char(0)))"""
        if name in numeric
        else f"""instr("{name}", char(0))"""
        for name, _ in columns
    )
    return f"iif({has_nul}, {exact}, printf('{formats}', {fast_values})) || char(13, 10)"


def _as_number(name: str, quoted_text: str) -> str:
    # A numeric column can still hold text written by another tool; quote it then, or a comma in it
    # would shift every later field.
    return f"""iif(typeof("{name}") = 'text', {quoted_text}, ifnull("{name}", ''))"""
