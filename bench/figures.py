"""One measured figure of the benchmark table, and the timing helpers every section uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Figure:
    section: str
    what: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> str:
        if not self.baseline_value:
            return ""
        return f"{self.value / self.baseline_value:.2f}x"

    def row(self) -> str:
        base = f"{self.baseline}: {self.baseline_value:,.2f} {self.unit}" if self.baseline_value is not None else ""
        verdict = {True: "met", False: "**missed**", None: ""}[self.met]
        return (
            f"| {self.section} | {self.what} | {self.value:,.2f} {self.unit} | {base} | {self.ratio} | "
            f"{self.target} | {verdict} |"
        )


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of each call."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]
