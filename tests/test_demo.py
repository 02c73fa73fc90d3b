"""`python -m bot demo`: a sample log that holds every kind of row, whose summaries equal what the triggers
make row by row, and whose generator keeps the benchmarks' rows as they were."""

from __future__ import annotations

import hashlib
import re
import sqlite3 as stdlib_sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from click.testing import CliRunner
from datasette_dashboards import replace_opts_in_query

from bench.dashboard import charts
from bench.data import rows as bench_rows
from bot.__main__ import cli
from bot.demo.build import EARLY_COLUMNS, LATE_COLUMNS, write
from bot.demo.sample import SampleLog
from bot.store import ConversationLog, migrate
from bot.store.schema import StoreError
from bot.store.sqlite import sqlite3
from tests.support.plain_sql import assert_summary_matches_plain_sql
from tests.support.web import METADATA, datasette_for

ROWS = 3000
END = 1_790_000_000.0  # a fixed "now", so the same seed gives the same log
# sha256 of repr(list(bench.data.rows(3000, seed=7, end=END))), computed on main before the word lists moved
# to bot/demo/words.py: the benchmarks must keep measuring the very same rows.
BENCH_ROWS_SHA256 = "bf4188edb03af2c912846ed9ced234ff2a299080052ef0824991b03fd141f4dd"
NOT_SUMMARIES = ("sqlite_", "conversations_fts", "_sqlite_migrations")


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "conversation_logs.db"
    write(path, ROWS, seed=3, end=END)
    return path


def one(db: stdlib_sqlite3.Connection, sql: str) -> int:
    value: int = db.execute(sql).fetchone()[0]
    return value


def test_the_command_writes_a_log_of_the_size_asked_and_says_how_to_see_it(tmp_path: Path) -> None:
    path = tmp_path / "new" / "conversation_logs.db"
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "demo", str(path), "--rows", "1234"])
    assert result.exit_code == 0, result.output
    assert f"{path}: 1,234 exchanges" in result.output and f"make web DB={path}" in result.output
    with sqlite3.connect(path) as db:
        assert one(db, "select count(*) from conversations") == 1234
        assert db.execute("pragma journal_mode").fetchone()[0] == "wal"  # as the bot and Datasette expect
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []


def test_a_name_the_web_cannot_serve_is_refused_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "demo", str(tmp_path / "demo.db")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "under the name conversation_logs.db" in result.output and not (tmp_path / "demo.db").exists()


def test_an_existing_file_is_refused_in_one_line_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "conversation_logs.db"
    path.write_bytes(b"someone's log")
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "demo", str(path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {path} already exists: the demo writes a new file "
                                                  "(delete it or choose another path)"]  # fmt: skip
    assert path.read_bytes() == b"someone's log"


def test_the_summaries_equal_plain_sql_over_the_rows(demo_log: Path) -> None:
    assert_summary_matches_plain_sql(ConversationLog(demo_log))
    with sqlite3.connect(demo_log) as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        db.execute("insert into conversations_fts (conversations_fts) values ('integrity-check')")
        searched = one(db, "select count(*) from conversations_fts where conversations_fts match 'penguins'")
        scanned = one(db, "select count(*) from conversations where user_message like '%penguins%' "
                          "or bot_response like '%penguins%'")  # fmt: skip
        assert searched == scanned > 0


def triggered_copy(demo_log: Path, path: Path) -> None:
    """The same rows and ratings written the bot's way: into a migrated log, one trigger run per row."""
    migrate(path)
    columns = (*EARLY_COLUMNS, *LATE_COLUMNS)
    with sqlite3.connect(demo_log) as source, sqlite3.connect(path) as target:
        rows = source.execute(f"select {', '.join(columns)} from conversations order by id").fetchall()
        target.executemany(
            f"insert into conversations ({', '.join(columns)}) values ({', '.join('?' * len(columns))})", rows
        )
        ratings = source.execute("select reply_message_id, rater_id, value, rated_at from ratings").fetchall()
        target.executemany(
            "insert into ratings (reply_message_id, rater_id, value, rated_at) values (?, ?, ?, ?)", ratings
        )


def summary_tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        names = [row[0] for row in db.execute("select name from sqlite_master where type = 'table' order by name")]
        return {
            name: sorted(db.execute(f'select * from "{name}"').fetchall(), key=repr)
            for name in names
            if not name.startswith(NOT_SUMMARIES)
        }


def test_every_summary_table_equals_the_one_the_triggers_make_row_by_row(demo_log: Path, tmp_path: Path) -> None:
    triggered_copy(demo_log, tmp_path / "triggered.db")
    made, triggered = summary_tables(demo_log), summary_tables(tmp_path / "triggered.db")
    assert sorted(made) == sorted(triggered) and "usage_daily" in made and "rating_totals" in made
    for table in made:
        assert made[table] == triggered[table], table


def test_the_log_holds_every_kind_of_row(demo_log: Path) -> None:
    with sqlite3.connect(demo_log) as db:
        counts = {
            "servers": "select count(distinct guild_id) from conversations",
            "server channels": "select count(distinct channel_id) from conversations where guild_id is not null",
            "DMs": "select count(*) from conversations where guild_id is null",
            "users": "select count(distinct user_id) from conversations",
            "conversations of several turns": "select count(*) from (select 1 from conversations "
            "group by conversation_id having count(*) > 1)",
            "Discord replies to the bot": "select count(*) from conversations c join conversations p "
            "on c.reply_to_message_id = p.reply_message_id and c.conversation_id = p.conversation_id",
            "ratings up": "select count(*) from ratings where value = 1",
            "ratings down": "select count(*) from ratings where value = -1",
            "images sent": 'select count(*) from conversations where attachments like \'%"status": "sent"%\'',
            "files refused": 'select count(*) from conversations where attachments like \'%"status": "refused"%\'',
            "fallbacks with 0 tokens": "select count(*) from conversations where model_used = 'static_fallback' "
            "and tokens_used = 0 and stop_reason is null",
            "models": "select count(distinct model_used) from conversations",
            "replies cut": "select count(*) from conversations where stop_reason = 'max_tokens'",
            "replies refused": "select count(*) from conversations where stop_reason = 'refusal'",
            "masked messages": "select count(*) from conversations where user_message like '%[email]%' "
            "or user_message like '%[phone]%' or user_message like '%[secret]%'",
            "days": "select count(distinct date(timestamp)) from conversations",
            "prompt cache reads": "select count(*) from conversations where cache_read_input_tokens > 0",
            "prompt cache writes": "select count(*) from conversations where cache_creation_input_tokens > 0",
        }
        found = {kind: one(db, sql) for kind, sql in counts.items()}
    least = {"servers": 4, "server channels": 16, "users": 30, "models": 4, "days": 80}
    assert {kind: n for kind, n in found.items() if n < least.get(kind, 1)} == {}, found


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows() -> None:
    def digest(seed: int) -> str:
        turns = SampleLog(500, seed=seed, end=END).turns()
        return hashlib.sha256(repr([(t.exchange, t.reply_message_id, t.ratings) for t in turns]).encode()).hexdigest()

    assert digest(5) == digest(5) != digest(6)


def test_the_benchmarks_rows_are_the_same_as_before_the_word_lists_moved() -> None:
    rows = list(bench_rows(3000, seed=7, end=END))
    assert hashlib.sha256(repr(rows).encode()).hexdigest() == BENCH_ROWS_SHA256


def test_a_size_below_one_is_refused_naming_the_option(tmp_path: Path) -> None:
    path = tmp_path / "conversation_logs.db"
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "demo", str(path), "--rows", "0"])
    assert result.exit_code == 2 and "--rows" in result.output and not path.exists()


def test_write_refuses_through_the_store_error(tmp_path: Path) -> None:
    (tmp_path / "taken.db").touch()
    with pytest.raises(StoreError, match=r"taken\.db already exists"):
        write(tmp_path / "taken.db", 10)


def test_make_web_serves_the_log_that_db_names(tmp_path: Path) -> None:
    """`make web DB=PATH`: the path Datasette is given is PATH, not the settings' log (make -n, then the
    recipe's own expression run as the recipe would run it)."""
    wanted = tmp_path / "conversation_logs.db"
    root = Path(__file__).resolve().parent.parent
    recipe = subprocess.run(["make", "-n", "web", f"DB={wanted}"], cwd=root, capture_output=True, text=True, check=True)
    serve = next(line for line in recipe.stdout.splitlines() if "datasette serve" in line)
    expression = re.search(r'serve "\$\((.*?)\)"', serve)
    assert expression, serve
    served = subprocess.run(["bash", "-c", expression.group(1)], cwd=root, capture_output=True, text=True, check=True)
    assert Path(served.stdout.strip()) == wanted


async def test_every_canned_query_the_transcript_and_every_chart_have_rows_to_show(demo_log: Path) -> None:
    ds = datasette_for(demo_log)
    await ds.invoke_startup()
    with sqlite3.connect(demo_log) as db:
        user, guild = db.execute(
            "select user_id, guild_id from conversations where guild_id is not null group by user_id "
            "order by count(*) desc limit 1"
        ).fetchone()
        [conversation] = db.execute(
            "select conversation_id from conversations group by conversation_id order by count(*) desc limit 1"
        ).fetchone()
    params = {"user": user, "guild": guild, "limit": "10", "page": "1", "conversation_id": conversation}
    queries = yaml.safe_load(METADATA.read_text())["databases"]["conversation_logs"]["queries"]
    empty = []
    for name, query in queries.items():
        asked = urlencode({key: params[key] for key in query.get("params", [])} | {"_shape": "array"})
        answer = await ds.client.get(f"/conversation_logs/{name}.json?{asked}")
        if answer.status_code != 200 or not answer.json():
            empty.append(name)
    for name, sql in charts().items():
        answer = await ds.client.get(
            "/conversation_logs.json?" + urlencode({"sql": replace_opts_in_query(sql, {}), "_shape": "array"})
        )
        if answer.status_code != 200 or not answer.json():
            empty.append(f"chart {name}")
    assert empty == []
    transcript = await ds.client.get(f"/conversation_logs/user_history.transcript?user={user}")
    assert transcript.status_code == 200 and "<" in transcript.text and user in transcript.text
