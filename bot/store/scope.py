"""Who may see which rows of the log: the tenancy rules, with no Discord in them.

The log holds many communities. A command asked in a server sees that server's rows. In a DM a user
sees their own rows from every server, and nobody else's. A server's admins (Manage Server there)
reach that server's rows. The bot's owners (BOT_ADMIN_IDS) reach every row: in a DM, or anywhere
when they ask for `all`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.store.exchange import Row

EVERYWHERE = "all"  # the word an owner adds to a command to reach every server's rows

# Named SQL parameters: name -> value.
Params = dict[str, Any]

OWNERS_ONLY = "Sorry, `all` (every server's data) is only for the bot's owners (BOT_ADMIN_IDS)."


class Refused(Exception):
    """The caller may not do this; the message says why, in one line, for the caller."""


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

    def where(self, alias: str = "c") -> tuple[str, Params]:
        """SQL narrowing `alias` (a conversations row) to this scope, with its named parameters."""
        clauses: list[str] = []
        params: Params = {}
        if self.guild_id is not None:
            clauses.append(f"{alias}.guild_id = :scope_guild")
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


@dataclass(frozen=True)
class Caller:
    """Who asked, and where: the facts the rules need."""

    user_id: str
    guild_id: str | None  # None in a DM
    manages_server: bool  # Manage Server in that server
    is_owner: bool  # in BOT_ADMIN_IDS

    @property
    def is_admin(self) -> bool:
        return self.is_owner or (self.guild_id is not None and self.manages_server)

    def overview(self, everywhere: bool) -> Scope:
        """What `stats` covers: the server it is asked in, or in a DM the caller's own (owners: all)."""
        self._check(everywhere)
        if everywhere or (self.guild_id is None and self.is_owner):
            return Scope.everything()
        return Scope.server(self.guild_id) if self.guild_id else Scope.own(self.user_id)

    def own(self, everywhere: bool) -> Scope:
        """The caller's own rows: this server's when asked in one, every server's in a DM or with `all`."""
        self._check(everywhere)
        return Scope.own(self.user_id, None if everywhere else self.guild_id)

    def reach(self, everywhere: bool, refusal: str) -> Scope:
        """Rows beyond the caller's own (export, someone else's history, forgetting someone else).

        Owners in a DM or with `all`: every row. A server's admins: that server's rows. A plain
        user in a DM: their own rows. A plain member in a server: refused with `refusal`.
        """
        self._check(everywhere)
        if everywhere or (self.guild_id is None and self.is_owner):
            return Scope.everything()
        if self.guild_id is None:
            return Scope.own(self.user_id)
        if not self.is_admin:
            raise Refused(refusal)
        return Scope.server(self.guild_id)

    def _check(self, everywhere: bool) -> None:
        if everywhere and not self.is_owner:
            raise Refused(OWNERS_ONLY)


def split_everywhere(words: str | None) -> tuple[bool, str | None]:
    """(`all` was asked for, the rest): `all alice` -> (True, 'alice'); `alice` -> (False, 'alice')."""
    first, _, rest = (words or "").strip().partition(" ")
    if first.lower() == EVERYWHERE:
        return True, rest.strip() or None
    return False, (words or "").strip() or None
