"""The replica's health as the bot reports it: the lag one listing measured, and what it means.

Plain values with no Litestream run in them, so the replicator can keep the last one and !stats can
read it (litestream.py measures them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum


@dataclass(frozen=True)
class Lag:
    """How far the replica trails the log: its newest transaction, when that was written, and how
    long the oldest change not yet on the replica has waited (0 when there is none)."""

    txid: str | None
    replicated_at: datetime | None
    waiting_seconds: float

    def line(self, url: str) -> str:
        state = f"lag {self.waiting_seconds:.1f} s" if self.waiting_seconds else "in sync"
        if self.txid is None or self.replicated_at is None:  # both, or neither: no LTX file on the replica yet
            return f"replica {url}: nothing replicated yet, {state}"
        age = (datetime.now(UTC) - self.replicated_at).total_seconds()
        return (
            f"replica {url}: last transaction {self.txid} written "
            f"{self.replicated_at:%Y-%m-%d %H:%M:%S} UTC ({age:.0f} s ago), {state}"
        )


class Health(Enum):
    """What `python -m bot status` and !stats say of the replica; the CLI's exit code follows from it."""

    OFF = "off"  # no LITESTREAM_REPLICA_URL
    UNMEASURED = "unmeasured"  # replicated, but no lag measured (yet) by this process
    IN_TIME = "in time"  # the oldest change not on the replica is within the alarm threshold
    LATE = "late"  # past LITESTREAM_LAG_ALARM_SECONDS
    UNREACHABLE = "unreachable"  # Litestream could not list the replica


ALARMING = frozenset({Health.LATE, Health.UNREACHABLE})


@dataclass(frozen=True)
class ReplicaStatus:
    health: Health
    line: str

    @property
    def exit_code(self) -> int:
        """`python -m bot status` exits 1 when the replica needs someone's attention."""
        return 1 if self.health in ALARMING else 0


OFF = ReplicaStatus(Health.OFF, "replication off (set LITESTREAM_REPLICA_URL)")
