"""What the service keeps about the messages it is handling: which it has seen (against Discord's
redelivery after a resume) and how many are still under way (for a clean shutdown)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from types import TracebackType

log = logging.getLogger(__name__)

SEEN_MESSAGE_IDS = 10_000  # message ids remembered against redelivery: hours of traffic for a busy bot


class SeenMessages:
    """The last SEEN_MESSAGE_IDS message ids, so a message delivered again is answered and logged once."""

    def __init__(self, keep: int = SEEN_MESSAGE_IDS) -> None:
        self.keep = keep
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, message_id: str) -> bool:
        """True the first time `message_id` is seen, and False each time it comes again."""
        if message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > self.keep:
            self._ids.popitem(last=False)
        return True


class InFlight:
    """Counts the exchanges under way (`with in_flight:` around each) so shutdown can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __enter__(self) -> None:
        self.count += 1
        self._idle.clear()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.count -= 1
        if not self.count:
            self._idle.set()

    async def drain(self, within_s: float) -> None:
        """Wait for the exchanges under way, so shutdown logs them before closing the stores."""
        try:
            await asyncio.wait_for(self._idle.wait(), within_s)
        except TimeoutError:
            log.warning("shutting down with %d exchange(s) still waiting for Claude", self.count)
