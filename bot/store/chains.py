"""Reply chains: the exchanges a Discord reply (or a thread started from a bot reply) continues.

A user who replies to one of the bot's messages continues that exchange's conversation, however
old it is and wherever it was. The chain is walked back through the log, one indexed lookup per
step: to the bot reply a turn answered (`reply_to_message_id`) where it was a reply, else to the
conversation's previous turn. Only rows of the same server (or of DMs) are followed.
"""

from __future__ import annotations

from sqlite_utils import Database

from .migrations import TABLE

COLUMNS = "id, guild_id, user_message, attachments, bot_response, model_used, conversation_id, reply_message_id, reply_to_message_id"
SAME_SERVER = "guild_id is :guild"  # `is`: a DM's NULL guild matches only other DMs


def anchor(db: Database, guild_id: str | None, reply_to: str | None, thread_id: str | None) -> dict | None:
    """The exchange a message continues: the bot reply it answers, else its thread's latest exchange,
    else the bot reply its thread was started from (a thread's id is its starter message's)."""
    if reply_to is not None:
        found = _one(db, "reply_message_id = :id", {"id": reply_to, "guild": guild_id})
        if found is not None:
            return found
    if thread_id is None:
        return None
    latest = _one(db, "channel_id = :id order by id desc", {"id": thread_id, "guild": guild_id})
    return latest or _one(db, "reply_message_id = :id", {"id": thread_id, "guild": guild_id})


def chain(db: Database, start: dict, turns: int) -> list[dict]:
    """`start` and the exchanges before it in its chain, oldest first, at most `turns` of them."""
    found = [start]
    while len(found) < turns:
        last = found[-1]
        if last["reply_to_message_id"] is not None:
            earlier = _one(db, "reply_message_id = :id", {"id": last["reply_to_message_id"], "guild": last["guild_id"]})
        else:
            earlier = _one(db, "conversation_id = :conversation and id < :before order by id desc",
                           {"conversation": last["conversation_id"], "before": last["id"], "guild": last["guild_id"]})
        if earlier is None or any(row["id"] == earlier["id"] for row in found):
            break
        found.append(earlier)
    found.reverse()
    return found


def _one(db: Database, where: str, params: dict) -> dict | None:
    rows = list(db.query(f"select {COLUMNS} from {TABLE} where {SAME_SERVER} and {where} limit 1", params))
    return rows[0] if rows else None
