"""Which rows of the log a command reads or deletes, as SQL; who may ask for which is bot/core/access.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.store.exchange import Row

# Named SQL parameters: name -> value.
Params = dict[str, Any]
# SERVER_TERM_OFF_INDEX: a unary + on the server term when the statement also names one user. With no
# statistics SQLite rates the server's (guild_id, timestamp) index (m024) as good as the user's (user_id,
# timestamp) one and prefers it (it also gives the time order), so it walked every row of the server to find one
# user's: !history of a user with 2 rows in a server of 1,000,000 took 786 ms, against 1 ms by the user's index.


@dataclass(frozen=True)
class Scope:
    """The rows a command may read or delete: one server's, one user's, both, or every row.

    Build it with `everything()`, `server()` or `own()`; a field left None does not narrow.
    """

    guild_id: str | None = None
    user_id: str | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls()

    @classmethod
    def server(cls, guild_id: str) -> Scope:
        return cls(guild_id=guild_id)

    @classmethod
    def own(cls, user_id: str, guild_id: str | None = None) -> Scope:
        return cls(guild_id=guild_id, user_id=user_id)

    @property
    def is_everything(self) -> bool:
        return self.guild_id is None and self.user_id is None

    def where(self, alias: str = "c", *, of_one_user: bool = False) -> tuple[str, Params]:
        """SQL narrowing `alias` (a conversations row) to this scope, with its named parameters.

        `of_one_user`: the statement narrows to one user id itself (`c.user_id = :user`). One user's rows in
        a server are then found through the user's index, never the server's (see SERVER_TERM_OFF_INDEX).
        """
        clauses: list[str] = []
        params: Params = {}
        if self.guild_id is not None:
            off_index = "+" if of_one_user or self.user_id is not None else ""
            clauses.append(f"{off_index}{alias}.guild_id = :scope_guild")
            params["scope_guild"] = self.guild_id
        if self.user_id is not None:
            clauses.append(f"{alias}.user_id = :scope_user")
            params["scope_user"] = self.user_id
        return " and ".join(clauses) or "1", params

    def params(self) -> dict[str, str | None]:
        """The scope as the optional `guild` and `user` parameters of a canned query (None: every row)."""
        return {"guild": self.guild_id, "user": self.user_id}

    def admits(self, row: Row) -> bool:
        """Whether a row (as a dict, e.g. one still in the spool) is in this scope."""
        return (self.guild_id is None or row.get("guild_id") == self.guild_id) and (
            self.user_id is None or row.get("user_id") == self.user_id
        )

    def describe(self) -> str:
        if self.is_everything:
            return "Every server and DM"
        if self.user_id is None:
            return "This server"
        return "Your conversations" + (" in this server" if self.guild_id else ", from every server and DM")
