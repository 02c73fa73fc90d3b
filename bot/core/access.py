"""Who may reach which rows of the log: the tenancy rules, in this one place, with no Discord in them.

The log holds many communities. A command asked in a server sees that server's rows. In a DM a user
sees their own rows from every server, and nobody else's. A server admin (Manage Server in that
server) reaches that server's rows. The bot's owners (BOT_ADMIN_IDS) reach every row: in a DM, or
anywhere when they ask for `all`. The rules answer with a `Scope` (bot/store/scope.py), which only
narrows the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.scope import Scope

EVERYWHERE = "all"  # the word an owner adds to a command to reach every server's rows

OWNERS_ONLY = "Sorry, `all` (every server's data) is only for the bot's owners (BOT_ADMIN_IDS)."


class Refused(Exception):
    """The caller may not do this; the message says why, in one line, for the caller."""


@dataclass(frozen=True)
class Caller:
    """Who asked, and where: the facts the rules need."""

    user_id: str
    guild_id: str | None  # None in a DM
    manages_server: bool  # a server admin: Manage Server in that server
    is_owner: bool  # in BOT_ADMIN_IDS

    @property
    def reaches_server(self) -> bool:
        """An owner, or a server admin asking in their server."""
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
        if not self.reaches_server:
            raise Refused(refusal)
        return Scope.server(self.guild_id)

    def to_read(self, target: str | None, everywhere: bool, refusal: str) -> Scope:
        """Whose history: the caller's own (`own`), or another's (`target` None: named, not yet found)."""
        if target == self.user_id:
            return self.own(everywhere)
        return self._others(everywhere, refusal)

    def to_forget(self, target: str, everywhere: bool, refusal: str) -> Scope:
        """Whose rows to erase: the caller's own go everywhere (they are theirs to erase), another's as `reach`."""
        if target == self.user_id:
            return Scope.own(target)
        return self._others(everywhere, refusal)

    def _others(self, everywhere: bool, refusal: str) -> Scope:
        scope = self.reach(everywhere, refusal)
        if scope.user_id is not None:  # a plain user in a DM reaches only themselves
            raise Refused(refusal)
        return scope

    def _check(self, everywhere: bool) -> None:
        if everywhere and not self.is_owner:
            raise Refused(OWNERS_ONLY)


def is_everywhere(word: str | None) -> bool:
    return (word or "").lower() == EVERYWHERE


def split_everywhere(words: str | None) -> tuple[bool, str | None]:
    """(`all` was asked for, the rest): `all alice` -> (True, 'alice'); `alice` -> (False, 'alice')."""
    first, _, rest = (words or "").strip().partition(" ")
    if first.lower() == EVERYWHERE:
        return True, rest.strip() or None
    return False, (words or "").strip() or None
