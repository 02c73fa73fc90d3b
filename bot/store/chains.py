"""Reply chains: the exchanges a Discord reply (or a thread started from a bot reply) continues.

A user who replies to one of the bot's messages continues that exchange's conversation, however
old it is and wherever it was. The chain is walked back through the log, one indexed lookup per
step: to the bot reply a turn answered (`reply_to_message_id`) where it was a reply, else to the
conversation's previous turn. Only rows of the same server (or of DMs), and of the channel the
message is in (with, in a thread, its parent channel) are followed: a reference into another
channel, which a forwarded or crafted message can carry, never brings that channel's talk along.
"""

from __future__ import annotations

from sqlite_utils import Database

from bot.store.exchange import Row
from bot.store.migrations import TABLE

COLUMNS = (
    "id, message_id, guild_id, user_message, attachments, bot_response, model_used, conversation_id, reply_message_id, "
    "reply_to_message_id"
)
SAME_SERVER = "+guild_id is :guild"  # `is`: a DM's NULL guild matches only other DMs; `+`: see Where


def anchor(
    db: Database, guild_id: str | None, channels: tuple[str, ...], reply_to: str | None, thread_id: str | None
) -> Row | None:
    """The exchange a message continues: the bot reply it answers, else its thread's latest exchange,
    else the bot reply its thread was started from (a thread's id is its starter message's).
    `channels` are the message's channel and, in a thread, its parent: nothing elsewhere is followed."""
    where = Where(guild_id, channels)
    if reply_to is not None:
        found = where.one(db, "reply_message_id = :id", id=reply_to)
        if found is not None:
            return found
    if thread_id is None:
        return None
    return where.one(db, "channel_id = :id order by id desc", id=thread_id) or where.one(
        db, "reply_message_id = :id", id=thread_id
    )


def chain(db: Database, start: Row, turns: int, channels: tuple[str, ...]) -> list[Row]:
    """`start` and the exchanges before it in its chain, within `channels`, oldest first, at most `turns`."""
    where = Where(start["guild_id"], channels)
    found = [start]
    while len(found) < turns:
        last = found[-1]
        if last["reply_to_message_id"] is not None:
            earlier = where.one(db, "reply_message_id = :id", id=last["reply_to_message_id"])
        else:
            earlier = where.one(
                db,
                "conversation_id = :conversation and id < :before order by id desc",
                conversation=last["conversation_id"],
                before=last["id"],
            )
        if earlier is None or any(row["id"] == earlier["id"] for row in found):
            break
        found.append(earlier)
    found.reverse()
    return found


class Where:
    """Rows of one server (or of DMs) and of a few channels only. The unary + keeps SQLite from
    picking the channel index (or the server's, idx_conversations_guild_id_timestamp) for the filter:
    it would then scan a whole channel's or server's rows, where the reply id or conversation index
    finds the one row."""

    def __init__(self, guild_id: str | None, channels: tuple[str, ...]) -> None:
        names = [f"channel{n}" for n in range(len(channels))]
        self.params = {"guild": guild_id, **dict(zip(names, channels, strict=True))}
        self.sql = f"{SAME_SERVER} and +channel_id in ({', '.join(':' + name for name in names) or 'null'})"

    def one(self, db: Database, condition: str, **params: object) -> Row | None:
        rows = list(
            db.query(
                f"select {COLUMNS} from {TABLE} where {self.sql} and {condition} limit 1", {**self.params, **params}
            )
        )
        return rows[0] if rows else None
