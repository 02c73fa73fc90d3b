"""A short seeded chaos soak (bench/chaos.py): the real bot and Litestream under overlapping faults."""

from __future__ import annotations

import pytest

from bench.chaos import soak

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser

SEED = 17  # its 20 s: Claude failing, a full disk, kill -9, a held lock and an immutable replica
SECONDS = 20.0


async def test_a_short_chaos_soak_loses_and_duplicates_nothing(tmp_path):
    report = await soak(SEED, SECONDS, tmp_path)
    print(report.line())
    assert report.messages_sent >= 10 and report.answered >= 5, report.line()
    assert sum(report.faults.values()) >= 5, report.line()
    assert (report.lost, report.duplicated, report.left_in_spool) == (0, 0, 0), report.line()
    assert report.ok, report.line()
