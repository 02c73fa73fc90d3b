"""`python -m bench.web_search --db LOG`: issue 24's web at a million rows, served as the Procfile serves it.

Every canned query's HTML page (the busiest user and server as parameters) beside the plain SQL that
answered it before, over every row; the search page (plugins/search.py) for a one-row word, a rare word, a
common word, a word in every row, and two searches narrowed by the form, each beside Datasette's default
`?_search=` table page. Medians of REPEAT after one warm-up.

It writes to the log it is given (the migrations, and `--ratings`): give it a copy named conversation_logs.db,
never the shared read-only log. `--ratings 50000` rates every reply whose row id is a multiple of
(rows / 50,000) once, a third of them 👎, so rated_replies has pages to read (the generator rates none).
"""

from __future__ import annotations

import os
import statistics
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import click

from bench.figures import Figure, timed
from bench.serving import served
from bot.store import migrate
from bot.store.sqlite import sqlite3

PORT_BASE = 8900  # plus the pid's last two digits, so two runs on one machine do not collide
REPEAT = 5
QUERY_TARGET_MS = 100
SEARCH_TARGET_MS = 300

# What each canned query computed from every row before it read the summaries (metadata.yml at 6589617).
PLAIN = {
    "daily_activity": """select date(timestamp) as day, count(*), count(distinct user_id), coalesce(sum(tokens_used), 0)
                         from conversations group by day order by day desc""",
    "top_users": """select user_id, user_name, display_name, count(*), coalesce(sum(tokens_used), 0), max(timestamp)
                    from conversations group by user_id order by count(*) desc limit 50""",
    "stats": "select count(*), count(distinct user_id), coalesce(sum(tokens_used), 0) from conversations",
    "models": "select model_used, count(*), sum(tokens_used) from conversations group by model_used",
    "server_stats": """select count(*), count(distinct user_id), sum(tokens_used) from conversations
                       where guild_id = :guild""",
    "server_models": """select model_used, count(*), sum(tokens_used) from conversations where guild_id = :guild
                        group by 1""",
    "own_stats": "select count(*), sum(tokens_used) from conversations where user_id = :user",
    "own_models": "select model_used, count(*), sum(tokens_used) from conversations where user_id = :user group by 1",
    "user_history": "select * from conversations where user_id = :user order by timestamp desc limit 10",
    "rated_replies": """select c.id, sum(r.value) from ratings r join conversations c using (reply_message_id)
                        group by r.reply_message_id order by 2 desc""",
    "costs": """select model_used, sum(input_tokens), sum(output_tokens) from conversations
                where coalesce(:guild, '') in ('', guild_id) and coalesce(:user, '') in ('', user_id) group by 1""",
}
PARAMS = {
    "server_stats": ["guild"],
    "server_models": ["guild"],
    "own_stats": ["user"],
    "own_models": ["user"],
    "user_history": ["user"],
    "costs": ["guild", "user"],
}


def busiest(path: Path) -> dict[str, str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        user = conn.execute("select user_id from stats_users order by conversations desc limit 1").fetchone()[0]
        guild = conn.execute(
            "select guild_key from stats_guild_models group by 1 order by sum(conversations) desc limit 1"
        ).fetchone()[0]
    return {"user": user, "guild": guild}


def add_ratings(path: Path, count: int) -> None:
    """Rate `count` replies spread over the log (none if it has ratings already)."""
    with sqlite3.connect(path) as conn:
        if conn.execute("select count(*) from ratings").fetchone()[0]:
            return
        rows = conn.execute("select max(id) from conversations").fetchone()[0]
        every = max(rows // count, 1)
        conn.execute(f"update conversations set reply_message_id = 'r' || id where id % {every} = 0")
        conn.execute(
            f"""insert into ratings (reply_message_id, rater_id, value, rated_at)
                select 'r' || id, 'rater' || (id % 7), iif(id % 3 = 0, -1, 1), 0 from conversations
                where id % {every} = 0"""
        )


def fetch_ms(url: str) -> tuple[float, int]:
    """(median ms, HTTP status): Datasette answers 400 when a page's query passes sql_time_limit_ms."""
    statuses = []

    def get() -> None:
        try:
            with urllib.request.urlopen(url, timeout=600) as response:
                response.read()
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)

    get()  # the warm-up
    return statistics.median(timed(get, REPEAT)), statuses[-1]


def plain_ms(path: Path, sql: str, params: dict[str, str]) -> float:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:

        def run() -> None:
            conn.execute(sql, {key: params.get(key, "") for key in ("user", "guild")}).fetchall()

        run()
        return statistics.median(timed(run, REPEAT))


def query_figures(path: Path, base: str, who: dict[str, str]) -> list[Figure]:
    figures = []
    for name, sql in PLAIN.items():
        params = {key: who[key] for key in PARAMS.get(name, [])}
        page, status = fetch_ms(f"{base}/{name}?{urlencode(params)}")
        assert status == 200, (name, status)
        label = f"{name} page" + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")
        figures.append(
            Figure(
                "web",
                label,
                page,
                "ms",
                "plain SQL over the rows",
                plain_ms(path, sql, params),
                f"≤ {QUERY_TARGET_MS} ms",
                page <= QUERY_TARGET_MS,
            )
        )
        print(figures[-1].row(), flush=True)
    return figures


def searches(who: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    return [
        ("one row (a message number)", {"q": "4321"}),
        ("a rare word (penguin, 0.4% of rows)", {"q": "penguin"}),
        ("a common word (discord, 20% of rows)", {"q": "discord"}),
        ("a word in every row (the)", {"q": "the"}),
        (
            "discord, busiest user, one month",
            {"q": "discord", "user": who["user"], "since": "2026-03-01", "until": "2026-03-31"},
        ),
        ("the, busiest server", {"q": "the", "guild": who["guild"]}),
    ]


def search_figures(base: str, who: dict[str, str]) -> list[Figure]:
    figures = []
    for label, form in searches(who):
        page, status = fetch_ms(f"{base}/search?{urlencode(form)}")
        assert status == 200, (label, status)
        default = {"_search": form["q"]} | ({"user_id": form["user"]} if "user" in form else {})
        default |= {"guild_id": form["guild"]} if "guild" in form else {}
        default_ms, default_status = fetch_ms(f"{base}/conversations?{urlencode(default)}")
        if default_status != 200:
            label += f" (the default page: HTTP {default_status}, its query timed out)"
        figures.append(
            Figure(
                "web",
                f"search page: {label}",
                page,
                "ms",
                "Datasette's ?_search= table page",
                default_ms,
                f"≤ {SEARCH_TARGET_MS} ms",
                page <= SEARCH_TARGET_MS,
            )
        )
        print(figures[-1].row(), flush=True)
    return figures


@click.command()
@click.option(
    "--db",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="A migrated copy of the big log, named conversation_logs.db.",
)
@click.option("--part", type=click.Choice(["all", "queries", "searches"]), default="all", show_default=True)
@click.option("--ratings", default=0, show_default=True, help="Replies to rate first, on a log with no ratings.")
def main(path: Path, part: str, ratings: int) -> None:
    """Time every canned query and the search page at the log's size; print the Markdown rows."""
    migrate(path)
    if ratings:
        add_ratings(path, ratings)
    who = busiest(path)
    with served(path, PORT_BASE + os.getpid() % 100) as base:
        figures = query_figures(path, base, who) if part in ("all", "queries") else []
        figures += search_figures(base, who) if part in ("all", "searches") else []
    load = os.getloadavg()
    print(f"busiest user {who['user']}, busiest server {who['guild']}; load {load[0]:.2f} on {os.cpu_count()} cores")
    print(f"{sum(not f.met for f in figures)} of {len(figures)} figures missed their target")


if __name__ == "__main__":
    main()
