"""Adopting the original bot's log in the background, as the front end learns where channels are.

The SQL is bot/store/adoption.py's; here each channel's rows are placed in batches, one writer job at a
time, awaited without blocking the loop, so answers queue behind one batch at most (BATCH_ROWS rows:
about 20 ms of the writer's time at a million rows, bench/adoption.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import TypeVar

from sqlite_utils import Database

from bot.store import ConversationLog
from bot.store.adoption import Place, place_batch, unplaced_channels, unplaced_count

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
        self._lock = asyncio.Lock()  # one channel at a time, whoever asks

    async def waiting(self) -> set[str]:
        """The channels with unplaced rows (a copy)."""
        if self._waiting is None:
            self._waiting = await asyncio.to_thread(self._read, unplaced_channels)
        return set(self._waiting)

    async def place(self, places: Iterable[Place]) -> int:
        """Place every unplaced row of these channels; returns how many rows."""
        placed = 0
        async with self._lock:
            for place in places:
                if place.channel_id in await self.waiting():
                    placed += await self._place_channel(place)
        self.placed += placed
        return placed

    async def _place_channel(self, place: Place) -> int:
        job = partial(place_batch, place=place, limit=self.batch_rows)
        placed = 0
        while done := await asyncio.wrap_future(self.store.run_job(job)):
            placed += done
        assert self._waiting is not None
        self._waiting.discard(place.channel_id)
        return placed

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
