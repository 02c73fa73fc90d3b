"""Placing the original bot's rows: the server each was said in, learned from its channel.

The original conversation_logger.py logged neither a server (guild_id) nor a message id. m020 lists its
rows in `unplaced_rows`: where each was said, a server or a DM, is not known yet, so no server's command
reaches it (PRIVACY.md, "Conversations from the original bot"). Once the front end learns a channel's
place from Discord, `place_batch` fills it in: one writer job per batch, in one transaction, so a stop
between two batches loses nothing and the next start goes on with what is left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlite_utils import Database

from bot.store.migrations import TABLE, UNPLACED

ABOVE_EVERY_ID = 2**63 - 1  # SQLite's largest integer: a first batch starts under it


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


def place_batch(db: Database, places: dict[str, str | None], limit: int, below: int = ABOVE_EVERY_ID) -> list[int]:
    """Place the newest `limit` unplaced rows of these channels (channel id -> guild id, None for a DM) with
    an id under `below`; returns their ids ([]: none left). The next batch goes on under the lowest.

    Newest first across every channel: the trigger that takes a user's name off their old server
    (triggers.tenancy_remove_sql) looks, oldest first, for another row of theirs still there, and finds one
    at once while the oldest rows wait. Channel by channel, it walked past every row already placed. The
    rows are read down the primary key (`+channel_id` keeps SQLite off the channel index, which would sort
    every unplaced row for each batch), and `below` skips the rows of channels nobody knows.
    """
    known = json.dumps(places)
    ids = [
        row_id
        for (row_id,) in db.execute(
            f"select id from {UNPLACED} where id < ? and +channel_id in (select key from json_each(?)) "
            "order by id desc limit ?",
            [below, known, limit],
        )
    ]
    batch = {"known": known, "ids": json.dumps(ids)}
    # A DM's rows keep guild_id NULL, which now means what it says.
    db.execute(
        f"update {TABLE} set guild_id = known.value from json_each(:known) as known "
        f"where known.key = {TABLE}.channel_id and known.value is not null "
        f"and {TABLE}.id in (select value from json_each(:ids))",
        batch,
    )
    db.execute(f"delete from {UNPLACED} where id in (select value from json_each(:ids))", batch)
    return ids
