"""Reading the log: each call borrows a read-only connection on the caller's thread (readers.py keeps them).

Nothing here writes, so these run on any thread while the writer thread commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.store import chains, export_sql, queries, request_rows
from bot.store.chains import Window
from bot.store.exchange import Row
from bot.store.export_sql import Order, Selection
from bot.store.migrations import TABLE
from bot.store.readers import Readers
from bot.store.schema import BUSY_TIMEOUT_S, connect
from bot.store.scope import Params, Scope

HISTORY_LIMIT = 10


def stats_queries(scope: Scope) -> tuple[tuple[str, str], dict[str, str | None]]:
    """The canned queries of !stats (totals, then models) for a scope, and their parameters: every
    row's and a server's read their summary tables, one user's reads that user's rows."""
    if scope.is_everything:
        return ("stats", "models"), {}
    if scope.user_id is None:
        return ("server_stats", "server_models"), {"guild": scope.guild_id}
    return ("own_stats", "own_models"), {"user": scope.user_id}


def scoped_history_sql(user_id: str, scope: Scope, limit: int = HISTORY_LIMIT) -> tuple[str, Params]:
    """The SQL of `Reads.scoped_history`, with its parameters."""
    where, params = scope.where(of_one_user=True)
    return (
        f"select * from {TABLE} c where c.user_id = :user and {where} "
        "order by c.timestamp desc, c.id desc limit :limit",
        {**params, "user": user_id, "limit": limit},
    )


def channels_sql(user_id: str, scope: Scope) -> tuple[str, Params]:
    """The SQL of `Reads.channels_of`, with its parameters."""
    where, params = scope.where(of_one_user=True)
    return f"select distinct channel_id from {TABLE} c where c.user_id = :user and {where}", {**params, "user": user_id}


class Reads:
    """The queries the bot, the CLI and the bench run on the log at `path`."""

    def __init__(self, path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.readers = Readers(self.path, busy_timeout)

    def reading(self) -> AbstractContextManager[Database]:
        """A read-only connection for the caller's thread, for one read (readers.py keeps it for the next)."""
        return self.readers.reading()

    def query(self, sql: str, params: Sequence[object] | dict[str, Any] = ()) -> list[Row]:
        """Rows of any read-only query, as dicts."""
        with self.reading() as db:
            return list(db.query(sql, params))

    def stats(self, scope: Scope = Scope.everything()) -> dict[str, Any]:
        """The !stats figures of every row, one server's (its own summaries), or one user's."""
        names, params = stats_queries(scope)
        with self.reading() as db:
            figures = next(db.query(queries.sql(names[0]), params))
            figures["models"] = list(db.query(queries.sql(names[1]), params))
            figures["costs"] = list(db.query(queries.sql("costs"), scope.params()))
            return figures

    def user_history(self, user: str, limit: int = HISTORY_LIMIT) -> list[Row]:
        """The web's user_history: the owner's view, by id, user name or display name, across servers."""
        return self.query(queries.sql("user_history"), {"user": user, "limit": limit})

    def latest(self, limit: int) -> list[Row]:
        """The last `limit` exchanges of the whole log, newest first (view_database.py)."""
        return self.query(f"select * from {TABLE} order by timestamp desc, id desc limit :limit", {"limit": limit})

    def scoped_history(self, user_id: str, scope: Scope, limit: int = HISTORY_LIMIT) -> list[Row]:
        """The last `limit` exchanges of one user id within `scope`, newest first."""
        return self.query(*scoped_history_sql(user_id, scope, limit))

    def find_users(self, name: str, scope: Scope) -> dict[str, list[str]]:
        """user id -> the names they have had in `scope`, for everyone who has been called `name` there."""
        server = "and guild_key = :guild" if scope.guild_id is not None else ""
        rows = self.query(
            f"""select user_id, name from user_names where name != '' {server} and user_id in
                              (select user_id from user_names where name = :name {server}) order by user_id, name""",
            {"name": name, "guild": scope.guild_id},
        )
        found: dict[str, list[str]] = {}
        for row in rows:
            names = found.setdefault(row["user_id"], [])
            if row["name"] not in names:  # the same name in several servers
                names.append(row["name"])
        return found

    def reply_chain(
        self, guild_id: str | None, channels: tuple[str, ...], reply_to: str | None, thread_id: str | None, at: Window
    ) -> list[Row]:
        """The exchanges a reply (or a message in a thread) continues within `channels` (its own and, in a
        thread, the parent), oldest first, within the window `at` (chains.window); [] when none."""
        with self.reading() as db:
            start = chains.anchor(db, guild_id, channels, reply_to, thread_id)
            return [] if start is None else chains.chain(db, start, at, channels)

    def channels_of(self, user_id: str, scope: Scope) -> set[str]:
        """The channels where a user has logged exchanges within `scope` (their memory lives there)."""
        return {row["channel_id"] for row in self.query(*channels_sql(user_id, scope))}

    def count_for_user(self, user_id: str, scope: Scope = Scope.everything()) -> int:
        return self.count(Selection(scope=Scope.own(user_id, scope.guild_id)))

    def count(self, selection: Selection) -> int:
        with self.reading() as db:
            return export_sql.count(db, selection)

    def models(self) -> set[str]:
        return {row["model_used"] for row in self.query(f"select distinct model_used from {TABLE}")}

    def export_rows(
        self, selection: Selection | None = None, order: Order = Order.ID, *, rated: bool = False, prompts: bool = False
    ) -> Iterator[Sequence[Any]]:
        """The header, then every selected row, streamed (`rated`: with each reply's net rating; `prompts`:
        with its system prompt's text)."""
        with self.reading() as db:
            yield from export_sql.export_rows(db, selection or Selection(), order, rated=rated, prompts=prompts)

    def request_rows(self, selection: Selection) -> Iterator[Row]:
        """Each selected row with its system prompt and context rows, for the `requests` export."""
        with self.reading() as db:
            yield from request_rows.request_rows(db, selection)

    def csv_chunks(
        self, selection: Selection | None = None, limit: int | None = None, chunk_rows: int = export_sql.CSV_CHUNK_ROWS
    ) -> Iterator[tuple[bytes, int]]:
        """The CSV export as (bytes, rows) chunks; see export_sql.csv_chunks."""
        with self.reading() as db:
            yield from export_sql.csv_chunks(db, selection or Selection(), limit, chunk_rows)

    def backup(self, target: Path) -> None:
        """A consistent copy of the live database, taken while the bot may be writing."""
        db = connect(self.path, self.busy_timeout)
        try:
            db.execute("VACUUM INTO ?", [str(target)])
        finally:
            db.close()
