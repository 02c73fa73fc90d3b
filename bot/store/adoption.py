"""Placing the original bot's rows: the server each was said in, learned from its channel.

The original conversation_logger.py logged neither a server (guild_id) nor a message id. m020 lists its
rows in `unplaced_rows`: where each was said, a server or a DM, is not known yet, so no server's command
reaches it (PRIVACY.md, "Conversations from the original bot"). Once the front end learns a channel's
place from Discord, `place_batch` fills it in: one writer job per batch, in one transaction, so a stop
between two batches loses nothing and the next start goes on with what is left.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from bot.store.migrations import TABLE, UNPLACED


@dataclass(frozen=True)
class Place:
    """Where a channel is: in a server (its guild_id), or a DM channel (guild_id None, as in Exchange)."""

    channel_id: str
    guild_id: str | None


def unplaced_channels(db: Database) -> set[str]:
    """The channels that still have unplaced rows (a row logged with no channel can never be placed)."""
    rows = db.execute(f"select distinct channel_id from {UNPLACED} where channel_id is not null")
    return {channel_id for (channel_id,) in rows}


def unplaced_count(db: Database) -> int:
    (count,) = db.execute(f"select count(*) from {UNPLACED}").fetchone()
    return int(count)


def place_batch(db: Database, place: Place, limit: int) -> int:
    """Place up to `limit` of the channel's unplaced rows; returns how many (0: the channel is done).

    Newest first: the trigger that moves a user's name between servers (triggers.tenancy_remove_sql) looks
    for another row of theirs still without a server, oldest first, and then finds one at once.
    """
    batch = f"select id from {UNPLACED} where channel_id = :channel order by id desc limit :limit"
    params = {"channel": place.channel_id, "limit": limit, "guild": place.guild_id}
    if place.guild_id is not None:  # a DM's rows keep guild_id NULL: now it means what it says
        db.execute(f"update {TABLE} set guild_id = :guild where id in ({batch})", params)
    return db.execute(f"delete from {UNPLACED} where id in ({batch})", params).rowcount
