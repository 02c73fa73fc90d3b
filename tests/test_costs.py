"""Estimated costs: !stats (the store), `python -m bot stats` and the web's `costs` query agree, to the cent,
with a hand computation on a small log with a price change in the middle and a fallback row."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from datasette_dashboards import replace_opts_in_query
from sqlite_utils import Database

from bench.dashboard import charts
from bot.__main__ import cli
from bot.core.formatting import cost_text, stats_lines
from bot.store import ConversationLog, migrations, utc_now_text
from bot.store.exchange import Exchange
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


# Prompt caching, across the same price change: Haiku's cache write and read go from $1.25/$0.10 (the
# defaults, 1.25x and 0.1x its input price) to $2.50/$0.20 on 2026-03-05, given in the price file's
# optional cache columns.
CACHE_PRICE_FILE = (
    "model,effective_from,input_per_mtok,output_per_mtok,cache_write_per_mtok,cache_read_per_mtok\n"
    "claude-haiku-4-5,2026-03-05,2,10,2.5,0.2\n"
)
# (user, model, timestamp, input, output, cache write, cache read); all in server g1
CACHED_ROWS = [
    ("u1", "claude-haiku-4-5", "2026-03-01 10:00:00", 1_000, 2_000, 100_000, 0),  # old price
    ("u1", "claude-haiku-4-5", "2026-03-10 09:00:00", 10_000, 100_000, 50_000, 2_000_000),  # new price
    ("u2", "claude-sonnet-4-5", "2026-03-02 12:00:00", 200_000, 20_000, 0, 1_000_000),
    ("u2", "claude-haiku-4-5", RECENT, 100, 1_000, 0, 500_000),  # new price, in the last 24 hours
]
# By hand, USD: each kind of token / 1e6 x its price per million tokens.
CACHED_COST = [
    (1_000 * 1 + 2_000 * 5 + 100_000 * 1.25 + 0 * 0.1) / 1e6,  # 0.136
    (10_000 * 2 + 100_000 * 10 + 50_000 * 2.5 + 2_000_000 * 0.2) / 1e6,  # 1.545
    (200_000 * 3 + 20_000 * 15 + 0 * 3.75 + 1_000_000 * 0.3) / 1e6,  # 1.2
    (100 * 2 + 1_000 * 10 + 0 * 2.5 + 500_000 * 0.2) / 1e6,  # 0.1102
]
# Saved: reads at the input price less the read price, less writes' price above the input price.
CACHE_SAVED = [
    -100_000 * (1.25 - 1) / 1e6,  # written, never read back: -0.025
    (2_000_000 * (2 - 0.2) - 50_000 * (2.5 - 2)) / 1e6,  # 3.575
    1_000_000 * (3 - 0.3) / 1e6,  # 2.7
    500_000 * (2 - 0.2) / 1e6,  # 0.9
]
CACHE_READ = sum(row[6] for row in CACHED_ROWS)  # 3,500,000
ALL_INPUT = sum(row[3] + row[5] + row[6] for row in CACHED_ROWS)  # 3,861,100
ALL_TOKENS = ALL_INPUT + sum(row[4] for row in CACHED_ROWS)  # tokens_used's meaning: every token


@pytest.fixture
def cached_log(tmp_path):
    path, prices = tmp_path / "conversation_logs.db", tmp_path / "prices.csv"
    prices.write_text(CACHE_PRICE_FILE)
    migrate_and_price(path, prices)
    with ConversationLog(path) as store:
        for n, (user, model, at, inp, out, write, read) in enumerate(CACHED_ROWS):
            exchange = Exchange(
                user,
                f"name-{user}",
                "c",
                "q",
                "a",
                model,
                f"m{n}",
                at,
                inp,
                out,
                latency_ms=500,
                guild_id="g1",
                cache_creation_input_tokens=write,
                cache_read_input_tokens=read,
            )
            assert store.submit(exchange).result() == "logged"
    return path


async def test_stats_the_costs_query_and_the_dashboard_agree_on_cached_tokens(cached_log):
    total, recent, saved = round(sum(CACHED_COST), 2), round(CACHED_COST[3], 2), round(sum(CACHE_SAVED), 2)
    share = round(100 * CACHE_READ / ALL_INPUT, 1)
    assert (total, recent, saved, share) == (2.99, 0.11, 7.15, 90.6)  # the figures the three must show
    shown = dict(stats_lines(ConversationLog(cached_log).stats()))  # !stats
    assert shown["Estimated cost"].startswith("$2.99 in total, $0.11 in the last 24 hours")
    assert shown["Prompt cache"] == "90.6% of input tokens read from the cache, saving $7.15"
    assert shown["Total tokens"] == f"{ALL_TOKENS:,}"
    ds = datasette_for(cached_log)
    await ds.invoke_startup()
    response = await ds.client.get("/conversation_logs/costs.json?_shape=array")  # the costs canned query
    everything = response.json()[0]
    assert (everything["estimated_usd"], everything["last_24_hours_usd"]) == (total, recent)
    assert (everything["cache_share_percent"], everything["cache_saved_usd"], everything["tokens"]) == (
        share,
        saved,
        ALL_TOKENS,
    )
    dashboard = {}
    for name, field in (("cost-total", "cost"), ("cache-saved", "saved"), ("cache-share", "percent")):
        sql = replace_opts_in_query(charts()[name], {})
        rows = (await ds.client.get("/conversation_logs.json?" + urlencode({"sql": sql, "_shape": "array"}))).json()
        dashboard[name] = rows[0][field]
    assert dashboard == {"cost-total": total, "cache-saved": saved, "cache-share": share}


def test_cache_prices_follow_the_price_file_and_default_to_anthropics_multiples(cached_log):
    with sqlite3.connect(cached_log) as conn:
        prices = conn.execute(
            "select effective_from, cache_write_per_mtok, cache_read_per_mtok from model_prices "
            "where model = 'claude-haiku-4-5' order by 1"
        ).fetchall()
    assert prices == [("1970-01-01", 1.25, 0.1), ("2026-03-05", 2.5, 0.2)]


def test_an_existing_log_migrates_with_no_cache_tokens_and_unchanged_costs(tmp_path):
    """A log (and its own 4-column price) from before m023: its rows had no cache (the bot sent no
    cache_control), so 0 is their count; its prices get Anthropic's multiples; its costs do not move."""
    path = tmp_path / "log.db"
    with Database(path) as db:
        migrations.apply(db, stop_before="m023_prompt_cache")
        db.execute("insert into model_prices values ('claude-haiku-4-5', '2026-03-05', 2, 10)")
        db["conversations"].insert_all(
            {
                "user_id": u,
                "guild_id": g,
                "model_used": m,
                "timestamp": t,
                "input_tokens": i,
                "output_tokens": o,
                "tokens_used": i + o,
                "message_id": f"m{n}",
                "latency_ms": 500,
            }
            for n, (u, g, m, t, i, o) in enumerate(ROWS)
        )
        db.conn.commit()
    migrate_and_price(path, None)
    assert by_model(ConversationLog(path).stats()["costs"]) == EVERYTHING
    with sqlite3.connect(path) as conn:
        assert conn.execute(
            "select sum(cache_creation_input_tokens), sum(cache_read_input_tokens) from conversations"
        ).fetchone() == (0, 0)
        assert conn.execute(
            "select cache_write_per_mtok, cache_read_per_mtok from model_prices where effective_from = '2026-03-05'"
        ).fetchone() == (2.5, 0.2)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("claude-haiku-4-5,2026-03-05,1,5,x,0.1", "line 2: cache_write_per_mtok 'x' is not a price"),
        ("claude-haiku-4-5,2026-03-05,1,5,1.25,-1", "line 2: cache_read_per_mtok '-1' is not a price"),
        ("claude-haiku-4-5,2026-03-05,1,5,1.25", "line 2: expected 6 values"),
    ],
)
def test_a_bad_cache_price_is_one_line_naming_it(tmp_path, line, problem):
    path, prices = tmp_path / "log.db", tmp_path / "prices.csv"
    prices.write_text(CACHE_PRICE_FILE.splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(PriceFileError, match=problem) as caught:
        migrate_and_price(path, prices)
    assert str(caught.value).startswith(str(prices)) and "\n" not in str(caught.value)
