"""The memory's statements on its `turns` table (two turns an exchange), apart from the Memory that holds the lock."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlite_utils import Database

from bot.store.privacy import ForgetMark


def live_turns(db: Database, channel_id: str, user_id: str, since: float, limit: int) -> list[dict[str, Any]]:
    """One thread's turns newer than `since`, newest first, at most `limit`."""
    return list(
        db.query(
            "select conversation_id, role, content, message_id from turns"
            " where channel_id = ? and user_id = ? and created_at >= ? and message_id is not null"
            " order by id desc limit ?",
            [channel_id, user_id, since, limit],
        )
    )


def thread_turns(db: Database, channel_id: str, user_id: str) -> int:
    """How many turns (two an exchange) the thread of one user in one channel holds."""
    query = "select count(*) from turns where channel_id = ? and user_id = ?"
    return int(db.execute(query, [channel_id, user_id]).fetchone()[0])


def keep_last(db: Database, channel_id: str, user_id: str, turns: int) -> None:
    """Delete all but the thread's last `turns` turns."""
    db.execute(
        "delete from turns where channel_id = ? and user_id = ? and id not in ("
        " select id from turns where channel_id = ? and user_id = ? order by id desc limit ?)",
        [channel_id, user_id, channel_id, user_id, turns],
    )


def drop_marked(db: Database, mark: ForgetMark) -> int:
    """The turns one forget mark reaches: the user's, older than the mark, everywhere or in its channels."""
    gone = 0
    if mark.everywhere:
        gone += db.execute("delete from turns where user_id = ? and created_at <= ?", [mark.user_id, mark.at]).rowcount
    for channel in mark.channel_ids:
        gone += db.execute(
            "delete from turns where user_id = ? and channel_id = ? and created_at <= ?",
            [mark.user_id, channel, mark.at],
        ).rowcount
    return gone


def delete_turns(db: Database, user_id: str | None, channel_ids: Collection[str] | None) -> int:
    """One user's turns (only those in `channel_ids`, when given), or every turn with no user."""
    if user_id is None:
        return db.execute("delete from turns").rowcount
    if channel_ids is None:
        return db.execute("delete from turns where user_id = ?", [user_id]).rowcount
    return sum(
        db.execute("delete from turns where user_id = ? and channel_id = ?", [user_id, channel]).rowcount
        for channel in channel_ids
    )
