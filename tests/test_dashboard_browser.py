"""The insight dashboard in Debian's headless Chromium on a real `datasette serve` of a small log: every chart
renders with data, with and without a date range (bench/dashboard_shots.py made docs/ screenshots at 1M rows)."""

from __future__ import annotations

import pytest

from bench.dashboard_shots import shoot
from bot.store.sqlite import sqlite3
from tests.support.web import write_sample_log

pytestmark = pytest.mark.slow  # every test here starts a real process or a browser


@pytest.fixture
def small_log(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=40)
    with sqlite3.connect(path) as conn:  # the sample log has no latency; Claude's replies get some
        conn.execute("update conversations set latency_ms = 200 + 10 * id where model_used != 'static_fallback'")
    return path


@pytest.mark.parametrize("options", [{}, {"date_start": "2026-01-01", "date_end": "2026-12-31"}])
async def test_every_chart_renders_with_data(small_log, tmp_path, options):
    shot = tmp_path / "dashboard.png"
    rows = await shoot(small_log, shot, options)
    assert rows and all(rows.values()), rows
    assert rows["busiest-hours"] >= 1 and rows["conversations-total"] == 1
    assert shot.stat().st_size > 10_000
