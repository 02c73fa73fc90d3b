"""Estimated costs: !stats (the store), `python -m bot stats` and the web's `costs` query agree, to the cent,
with a hand computation on a small log with a price change in the middle and a fallback row."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from bot.__main__ import cli
from bot.core.formatting import cost_text
from bot.store import ConversationLog, utc_now_text
from bot.store.prices import PriceFileError, migrate_and_price
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3
from tests.support import PROJECT
from tests.support.web import datasette_for

# Haiku's price doubles from 2026-03-05 ($1/$5 -> $2/$10 per million tokens) in the price file.
PRICE_FILE = "model,effective_from,input_per_mtok,output_per_mtok\nclaude-haiku-4-5,2026-03-05,2,10\n"
RECENT = utc_now_text(datetime.now(UTC) - timedelta(hours=1))
# (user, guild, model, timestamp, input tokens, output tokens)
ROWS = [
    ("u1", "g1", "claude-haiku-4-5", "2026-03-01 10:00:00", 1_000, 2_000),  # old price
    ("u1", "g1", "claude-haiku-4-5", "2026-03-10 09:00:00", 1_000_000, 100_000),  # new price
    ("u2", "g1", "claude-sonnet-4-5", "2026-03-02 12:00:00", 200_000, 20_000),
    ("u2", "g1", "static_fallback", "2026-03-03 08:00:00", 5_000, 0),  # a fallback costs nothing
    ("u2", "g1", "claude-haiku-4-5", RECENT, 500_000, 50_000),  # new price, in the last 24 hours
    ("u3", "g2", "claude-sonnet-4-5", "2026-03-02 13:00:00", 1_000_000, 0),  # another server
]
# By hand, USD: tokens / 1e6 x price per million tokens.
ROW_COST = [
    1_000 / 1e6 * 1 + 2_000 / 1e6 * 5,  # 0.011
    1_000_000 / 1e6 * 2 + 100_000 / 1e6 * 10,  # 3.00
    200_000 / 1e6 * 3 + 20_000 / 1e6 * 15,  # 0.90
    0.0,
    500_000 / 1e6 * 2 + 50_000 / 1e6 * 10,  # 1.50
    1_000_000 / 1e6 * 3,  # 3.00
]
EVERYTHING = {
    "all models": (8.41, 1.50),
    "claude-haiku-4-5": (4.51, 1.50),
    "claude-sonnet-4-5": (3.90, 0.0),
    "static_fallback": (0.0, 0.0),
}
SERVER_G1 = {
    "all models": (5.41, 1.50),
    "claude-haiku-4-5": (4.51, 1.50),
    "claude-sonnet-4-5": (0.90, 0.0),
    "static_fallback": (0.0, 0.0),
}
USER_U1 = {"all models": (3.01, 0.0), "claude-haiku-4-5": (3.01, 0.0)}


@pytest.fixture
def priced_log(tmp_path):
    path, prices = tmp_path / "conversation_logs.db", tmp_path / "prices.csv"
    prices.write_text(PRICE_FILE)
    migrate_and_price(path, prices)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "insert into conversations (user_id, user_name, guild_id, model_used, timestamp, input_tokens, "
            "output_tokens, tokens_used, message_id, latency_ms) values (?, ?, ?, ?, ?, ?, ?, ?, ?, 500)",
            [(u, f"name-{u}", g, m, t, i, o, i + o, f"m{n}") for n, (u, g, m, t, i, o) in enumerate(ROWS)],
        )
    return path, prices


def by_model(costs: list[dict]) -> dict:
    return {row["model_used"]: (row["estimated_usd"], row["last_24_hours_usd"]) for row in costs}


def test_the_hand_computation_adds_up():
    assert round(sum(ROW_COST), 2) == EVERYTHING["all models"][0]
    assert round(ROW_COST[0] + ROW_COST[1] + ROW_COST[4], 2) == EVERYTHING["claude-haiku-4-5"][0]


@pytest.mark.parametrize(
    "scope, expected", [(Scope.everything(), EVERYTHING), (Scope.server("g1"), SERVER_G1), (Scope.own("u1"), USER_U1)]
)
def test_stats_costs_match_the_hand_computation_in_each_scope(priced_log, scope, expected):
    costs = ConversationLog(priced_log[0]).stats(scope)["costs"]
    assert costs[0]["model_used"] == "all models"
    assert by_model(costs) == expected


async def test_the_web_costs_query_and_the_cli_agree_with_stats(priced_log):
    path, prices = priced_log
    ds = datasette_for(path)
    await ds.invoke_startup()
    for params, expected in (("", EVERYTHING), ("?guild=g1", SERVER_G1), ("?user=u1", USER_U1)):
        response = await ds.client.get(f"/conversation_logs/costs.json{params}{'&' if params else '?'}_shape=array")
        assert response.status_code == 200, response.text
        assert by_model(response.json()) == expected
    # On a thread: the CLI runs its own event loop (asyncio.run), as it does from a shell.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["--env-file", "/dev/null", "stats"],
        env={"CONVERSATION_LOG_DB": str(path), "BOT_MODEL_PRICES": str(prices)},
    )
    assert result.exit_code == 0, result.output
    assert "Estimated cost: $8.41 in total, $1.50 in the last 24 hours" in result.output
    assert "claude-haiku-4-5: $4.51" in result.output and "static_fallback: $0.00" in result.output


def test_a_model_without_a_price_says_so(tmp_path):
    path = tmp_path / "log.db"
    migrate_and_price(path, None)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "insert into conversations (user_id, model_used, timestamp, input_tokens, output_tokens, "
            "message_id) values ('u', 'claude-new-9', '2026-01-01 00:00:00', 10, 10, 'm')"
        )
    text = cost_text(ConversationLog(path).stats()["costs"])
    assert "claude-new-9: no price known" in text and "$0.00 in total" in text


def test_the_day_summary_follows_deletes_and_updates(priced_log):
    path = priced_log[0]
    with sqlite3.connect(path) as conn:
        conn.execute("delete from conversations where message_id = 'm1'")
        conn.execute(
            "update conversations set model_used = 'claude-haiku-4-5', timestamp = '2026-03-09 00:00:00' "
            "where message_id = 'm5'"
        )
        kept = conn.execute(
            "select day, guild_key, model_used, conversations, input_tokens, output_tokens "
            "from usage_daily order by 1, 2, 3"
        ).fetchall()
        again = conn.execute(
            "select date(timestamp), guild_id, model_used, count(*), sum(input_tokens), "
            "sum(output_tokens) from conversations group by 1, 2, 3 order by 1, 2, 3"
        ).fetchall()
        users = conn.execute("select sum(conversations), count(*) from day_users").fetchone()
        per_user = conn.execute(
            "select user_id, day, guild_key, model_used, conversations, input_tokens, "
            "output_tokens from usage_user_daily order by 1, 2, 3, 4"
        ).fetchall()
        per_user_again = conn.execute(
            "select user_id, date(timestamp), guild_id, model_used, count(*), "
            "sum(input_tokens), sum(output_tokens) from conversations "
            "group by 1, 2, 3, 4 order by 1, 2, 3, 4"
        ).fetchall()
    assert kept == again
    assert per_user == per_user_again
    assert users == (5, 5)
    # The moved row (1M input tokens) is Haiku at the new price now: $2.00 where it was $3.00 as Sonnet.
    assert by_model(ConversationLog(path).stats()["costs"])["all models"][0] == round(
        ROW_COST[0] + ROW_COST[2] + ROW_COST[4] + 1_000_000 / 1e6 * 2, 2
    )
    with sqlite3.connect(path) as conn:
        conn.execute("delete from conversations where user_id = 'u3'")  # as !forget does
        assert conn.execute("select count(*) from day_users where user_id = 'u3'").fetchone()[0] == 0
        assert conn.execute("select count(*) from usage_user_daily where user_id = 'u3'").fetchone()[0] == 0


HEADER_LINE = "model,effective_from,input_per_mtok,output_per_mtok\n"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("model,x\n", "the first line must be"),
        (HEADER_LINE + "claude-haiku-4-5,2026-3-5,1,5\n", "line 2: effective_from '2026-3-5' is not"),
        (HEADER_LINE + "claude-haiku-4-5,2026-02-30,1,5\n", "line 2: effective_from '2026-02-30' is not"),
        (HEADER_LINE + "claude-haiku-4-5,2026-03-05,-1,5\n", "line 2: input_per_mtok '-1' is not a price"),
        (HEADER_LINE + "claude-haiku-4-5,2026-03-05,cheap,5\n", "line 2: input_per_mtok 'cheap' is not a price"),
        # float() takes these three; the table's CHECK and NOT NULL refused them with an IntegrityError traceback.
        (HEADER_LINE + "claude-haiku-4-5,2026-03-05,nan,5\n", "line 2: input_per_mtok 'nan' is not a price"),
        (HEADER_LINE + "a,2026-03-04,1,5\nclaude-haiku-4-5,2026-03-05,1,inf\n", "line 3: output_per_mtok 'inf' is not"),
        (HEADER_LINE + "claude-haiku-4-5,2026-03-05,1e999,5\n", "line 2: input_per_mtok '1e999' is not a price"),
        (HEADER_LINE + "claude-haiku-4-5,2026-03-05,5\n", "line 2: expected 4 values"),
        (HEADER_LINE + ",2026-03-05,1,5\n", "line 2: model is empty"),
    ],
)
def test_a_bad_price_file_is_one_line_naming_it_and_changes_nothing(tmp_path, text, problem):
    path, prices = tmp_path / "log.db", tmp_path / "prices.csv"
    prices.write_text(text)
    with pytest.raises(PriceFileError, match=problem) as caught:
        migrate_and_price(path, prices)
    assert str(caught.value).startswith(str(prices)) and "\n" not in str(caught.value)
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from model_prices").fetchone()[0] == 4


@pytest.mark.slow
@pytest.mark.parametrize("command", [["migrate"], []], ids=["web (migrate)", "bot"])
def test_a_nan_price_stops_the_bot_and_the_web_process_with_one_line(tmp_path, command):
    """The Procfile's web process runs `python -m bot migrate` first; the worker runs `python -m bot`."""
    prices = tmp_path / "prices.csv"
    prices.write_text(HEADER_LINE + "claude-haiku-4-5,2026-03-05,nan,5\n")
    env = {
        "PATH": os.environ["PATH"],
        "BOT_MODEL_PRICES": str(prices),
        "DISCORD_TOKEN": "not-used",
        "CONVERSATION_LOG_DB": str(tmp_path / "log.db"),
        "BOT_MEMORY_DB": str(tmp_path / "memory.db"),
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",
    }  # never reached: the price file stops it first
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", "/dev/null", *command],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: {prices} line 2: input_per_mtok 'nan' is not a price in USD per million tokens (a number >= 0)"
    ]
