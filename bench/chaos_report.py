"""What a chaos soak works on (its files) and what it found (the Report): shared by the soak, its faults
and its invariants."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SoakFiles:
    """The data and replica folders, on the loop-mounted disk where the machine allows it."""

    work: Path

    @property
    def disk(self) -> Path:
        return self.work / "disk"

    @property
    def data(self) -> Path:
        return self.disk / "data"

    @property
    def replica(self) -> Path:
        return self.disk / "replica"

    @property
    def log_db(self) -> Path:
        return self.data / "conversation_logs.db"


@dataclass
class Report:
    seed: int
    seconds: float
    disk: str
    messages_sent: int = 0
    reactions_sent: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    skipped: dict[str, str] = field(default_factory=dict)
    bot_starts: int = 0
    answered: int = 0
    rows: int = 0
    lost: int = 0
    duplicated: int = 0
    left_in_spool: int = 0
    reply_ids_missing: int = 0
    replica_rows: int = 0
    replica_missing: int = 0
    failures: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail_unless(self, holds: bool, failure: str) -> None:
        if not holds:
            self.failures.append(failure)

    def line(self) -> str:
        faults = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults.items()))
        return (
            f"seed {self.seed}: {self.seconds:g} s on {self.disk}, {self.wall_seconds:.0f} s wall; "
            f"messages sent {self.messages_sent}, reactions {self.reactions_sent}, answered {self.answered}; "
            f"faults injected {sum(self.faults.values())} ({faults}); bot started {self.bot_starts} times; "
            f"rows {self.rows}: lost {self.lost}, duplicated {self.duplicated}, left in spool "
            f"{self.left_in_spool}; reply ids missing {self.reply_ids_missing}; replica restored "
            f"{self.replica_rows} rows, missing {self.replica_missing} committed before the last fault; "
            + ("all invariants hold" if self.ok else "FAILED: " + "; ".join(self.failures))
        )
