"""The plan of !stats' costs (metadata.yml's `costs`): prices looked up once per model and price, not per day.

At 1,000,000 rows over a year the query priced 1,464 days and models, each by a correlated look-up of the price in
force, and priced them all twice (once for the total, once per model): 2.0 of the query's 6.8 ms. The figures
themselves are test_costs.py's (a price change in the middle, several servers, a model with no price).
"""

from __future__ import annotations

from bot.store import ConversationLog, queries
from bot.store.sqlite import sqlite3


def costs_plan(tmp_path) -> list[str]:
    with ConversationLog(tmp_path / "log.db"):
        pass
    with sqlite3.connect(tmp_path / "log.db") as conn:
        return [
            row[3] for row in conn.execute("explain query plan " + queries.sql("costs"), {"guild": None, "user": None})
        ]


def test_costs_look_up_no_price_per_day(tmp_path):
    plan = costs_plan(tmp_path)
    assert not any("CORRELATED" in step for step in plan), plan


def test_costs_price_once_for_the_total_and_the_models(tmp_path):
    plan = costs_plan(tmp_path)
    assert "MATERIALIZE priced" in plan, plan
    assert plan.count("SCAN model_prices") == 1, plan  # each price's span, read once
