"""Adopting the original bot's log in the background, as the front end learns where channels are.

The SQL is bot/store/adoption.py's; here the rows of the channels learnt are placed in batches, one writer job at a
time, awaited without blocking the loop, so an answer's row queues behind one batch at most (BATCH_ROWS
rows: 17 ms of CPU at 20,000 rows; at a million, answers waited 40 ms at the median, bench/adoption.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import TypeVar

from sqlite_utils import Database

from bot.store import ConversationLog
from bot.store.adoption import ABOVE_EVERY_ID, Place, place_batch, unplaced_channels, unplaced_count

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_ROWS = 500  # rows per writer job (see the module's docstring)


class Adoption:
    """Places the unplaced rows of the channels it is told about; idempotent, and safe to stop anywhere."""

    def __init__(self, store: ConversationLog, batch_rows: int = BATCH_ROWS) -> None:
        self.store = store
        self.batch_rows = batch_rows
        self.placed = 0  # rows placed by this process
        self._waiting: set[str] | None = None  # read once; then kept as channels are placed
        self._lock = asyncio.Lock()  # one placing at a time, whoever asks (the sweep, a new channel)

    async def waiting(self) -> set[str]:
        """The channels with unplaced rows (a copy)."""
        if self._waiting is None:
            self._waiting = await asyncio.to_thread(self._read, unplaced_channels)
        return set(self._waiting)

    async def place(self, places: Iterable[Place]) -> int:
        """Place every unplaced row of these channels, in batches; returns how many rows."""
        async with self._lock:
            waiting = await self.waiting()
            known = {p.channel_id: p.guild_id for p in places if p.channel_id in waiting}
            placed, below = 0, ABOVE_EVERY_ID
            while known and (ids := await self._run(self._batch(known, below))):
                placed, below = placed + len(ids), min(ids)
            assert self._waiting is not None
            self._waiting -= known.keys()
        self.placed += placed
        return placed

    async def _run(self, job: Callable[[Database], list[int]]) -> list[int]:
        # Shielded: a cancel (the bot closing) leaves the batch to finish in its transaction on the writer.
        return await asyncio.shield(asyncio.wrap_future(self.store.run_job(job)))

    def _batch(self, known: dict[str, str | None], below: int) -> Callable[[Database], list[int]]:
        return partial(place_batch, places=known, limit=self.batch_rows, below=below)

    def _read(self, query: Callable[[Database], T]) -> T:
        with self.store.reading() as db:
            return query(db)

    async def report(self) -> None:
        """One INFO line: what this process placed, and how many rows stay unplaced (the owners')."""
        left = await asyncio.to_thread(self._read, unplaced_count)
        log.info(
            "original bot's log: %d rows placed in their server or DM; %d stay unplaced (their channel is "
            "gone or out of the bot's sight): no server's command reaches them (PRIVACY.md)",
            self.placed,
            left,
        )
