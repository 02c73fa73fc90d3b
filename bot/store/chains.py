"""Reply chains: the exchanges a Discord reply (or a thread started from a bot reply) continues.

A user who replies to one of the bot's messages continues that exchange's conversation, however
old it is and wherever it was. The chain is walked back through the log, one indexed lookup per
step: to the bot reply a turn answered (`reply_to_message_id`) where it was a reply, else to the
conversation's previous turn. Only rows of the same server (or of DMs), and of the channel the
message is in (with, in a thread, its parent channel) are followed: a reference into another
channel, which a forwarded or crafted message can carry, never brings that channel's talk along.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# Exchanges walked back to learn a chain's length: one indexed lookup each, 60-90 us a step measured on 2 busy
# cores (a 300-exchange thread: 18-20 ms for 200 steps), so 100 steps stay under 10 ms off the event loop.
CHAIN_WALK_LIMIT = 100


@dataclass(frozen=True)
class Window:
    """How much of a chain Claude is sent: the memory's BOT_MEMORY_TURNS and BOT_MEMORY_MAX_TURNS."""

    turns: int
    max_turns: int


def chain(db: Database, start: Row, bounds: Window, channels: tuple[str, ...]) -> list[Row]:
    """`start` and the exchanges before it in its chain, within `channels`, oldest first: all of them up to
    `max_turns`, then at least the last `turns`, from a start that moves only every `max_turns - turns`
    exchanges (window), so the prefix Claude caches stays the same in between."""
    # A window that never grows slides by one each turn: its length is all it needs to learn.
    grows = bounds.max_turns > bounds.turns
    found = walk(db, start, channels, CHAIN_WALK_LIMIT if grows else bounds.turns)
    return found[: window(len(found), bounds.turns, bounds.max_turns)][::-1]


def window(length: int, turns: int, max_turns: int) -> int:
    """How many of a chain's last `length` exchanges to send. Up to `max_turns`, all; past it the oldest
    are dropped `max_turns - turns` at a time: 20 then 11, 12, ... 19, then 10 with the defaults. With
    `max_turns == turns` the window slides by one (each turn moves the start). A chain longer than
    CHAIN_WALK_LIMIT is measured at that limit, so there it slides too."""
    step = max_turns - turns
    if length <= max_turns or step <= 0:
        return min(length, max_turns)
    return length - (length - turns) // step * step


def walk(db: Database, start: Row, channels: tuple[str, ...], limit: int) -> list[Row]:
    """`start` and at most `limit - 1` exchanges before it in its chain, newest first."""
    where = Where(start["guild_id"], channels)
    found, seen = [start], {start["id"]}
    while len(found) < limit:
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
        if earlier is None or earlier["id"] in seen:  # a loop a crafted reply id could make
            break
        found.append(earlier)
        seen.add(earlier["id"])
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
