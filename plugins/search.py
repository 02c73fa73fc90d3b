"""The search page, /conversation_logs/search?q=WORDS: the best matches first, the words found marked.

Datasette's own `?_search=` on the table lists matches in id order, counts every match and facets them all:
at 1M rows a word in a fifth of the rows took 1.45 s and every facet timed out. Here:
- the matches are ordered by FTS5's bm25 (what `rank` computes), read as a column and sorted by SQLite:
  `order by rank` over 200,000 matches took 274 ms, bm25() sorted 110 ms (1M-row log, this machine);
- a word in nearly every row is ranked among its newest RANKED_MATCHES matches (the page says so): ranking
  all 1M took 673 ms, the newest 200,000 about 140 ms;
- the count stops at COUNT_CAP ("10,000+") and there are no facets, so nothing waits on every match;
- the user, server and date fields narrow the matches with a form, not SQL;
- snippet() marks the words with a mark made for the page (a control character and 16 random hex digits: a
  message holding a bare control character had its own <mark>s), the text is escaped, and only then do
  the marks become <mark>: what a user wrote stays text.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import replace
from pathlib import Path

from datasette import Forbidden, hookimpl
from datasette.database import QueryInterrupted
from datasette.utils import escape_fts
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

# Datasette runs each file here alone, by path, and `datasette serve`'s sys.path holds its bin/, not the
# project: with the project on the path, the other files import as the package `plugins`, once a process.
# First on the path, so a copy of plugins/ elsewhere (bench/login.py --before) imports its own files.
PROJECT = str(Path(__file__).resolve().parent.parent)
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)

from plugins import search_form as form_module  # noqa: E402 (after the path it needs)

DATABASE, TABLE, FTS = "conversation_logs", "conversations", "conversations_fts"
PAGE_SIZE = 20  # hits a page: about two screens of snippets
COUNT_CAP = 10_000  # matches counted before the page says "10,000+"
# Matches ranked at most, newest first: 200,000 covers a word in a fifth of a 1M-row log whole (~110 ms)
# and bounds a word in every row to ~140 ms instead of 673 ms (unloaded, 2 cores).
RANKED_MATCHES = 200_000
OPEN, CLOSE = "\x02", "\x03"  # snippet()'s marks start so, never markup until the text around them is escaped
MARK_TOKEN_BYTES = 8  # 16 hex digits after each mark: no message can hold the page's marks by chance or design
SNIPPET_TOKENS = 32  # words of context a snippet shows

RANKED_SQL = f"""
select rowid, score from (
  select f.rowid, bm25({FTS}) as score from {FTS} f
  where {FTS} match :match {{narrowed}} order by f.rowid desc limit :ranked
) order by score, rowid desc limit :limit offset :offset"""
COUNT_SQL = f"select count(*) from (select 1 from {FTS} f where {FTS} match :match {{narrowed}} limit :cap)"
# The form's fields pick ids by index, and the matches are kept when in that list. The unary + keeps SQLite
# from handing the list to FTS5 as rowid lookups: one match per id took over 3 s for a month of a busy user.
NARROWED = f"and +f.rowid in (select c.id from {TABLE} c where {{where}})"
HITS_SQL = f"""
select c.id, c.timestamp, c.user_id, c.user_name, c.display_name, c.guild_id, c.channel_id, c.model_used,
       c.conversation_id, snippet({FTS}, 0, :open, :close, '…', {SNIPPET_TOKENS}) as message,
       snippet({FTS}, 1, :open, :close, '…', {SNIPPET_TOKENS}) as reply
from {FTS} join {TABLE} c on c.id = {FTS}.rowid
where {FTS} match :match and {FTS}.rowid = :id"""


def page_marks() -> dict[str, str]:
    """snippet()'s open and close marks for one page, which no stored text can hold."""
    token = secrets.token_hex(MARK_TOKEN_BYTES)
    return {"open": OPEN + token, "close": CLOSE + token}


def marked(text: str | None, marks: dict[str, str]) -> Markup:
    """The snippet as HTML: every character the user wrote escaped, then our marks made <mark>."""
    escaped = str(escape(text or ""))
    return Markup(escaped.replace(marks["open"], "<mark>").replace(marks["close"], "</mark>"))


def filters(form, user_ids: list[str]) -> tuple[str, dict]:
    """(condition, parameters) narrowing the matches to the form's user, server and dates."""
    clauses, params = [], {}
    if form.user:
        names = [f":user{n}" for n in range(len(user_ids))] or ["null"]
        clauses.append(f"c.user_id in ({', '.join(names)})")
        params.update({f"user{n}": user_id for n, user_id in enumerate(user_ids)})
    if form.guild:
        clauses.append("c.guild_id = :guild")
        params["guild"] = form.guild
    if form.since:
        clauses.append("c.timestamp >= :since")
        params["since"] = form.since
    if form.until:
        clauses.append("c.timestamp < date(:until, '+1 day')")
        params["until"] = form.until
    return (NARROWED.format(where=" and ".join(clauses)) if clauses else ""), params


# Whether one server holds every row: the counts kept by triggers (m007, m010) are exact.
EVERY_ROW_SERVER_SQL = """
select (select coalesce(sum(conversations), 0) from stats_guild_models where guild_key = :guild)
       = (select conversations from stats_totals)"""


async def narrowing(db, form):
    """The form the SQL runs. A server holding every row (a bot in one server) narrows nothing, and picking
    its million ids took 1.2 to 2.6 s on the 1M-row log, so its field is left out of the SQL."""
    if form.guild and (await db.execute(EVERY_ROW_SERVER_SQL, {"guild": form.guild})).rows[0][0]:
        return replace(form, guild="")
    return form


async def user_ids(db, user: str) -> list[str]:
    """The ids a user field names: the id itself, or every user who had that name (ignoring case)."""
    if not user:
        return []
    sql = (
        "select user_id from stats_users where user_id = :user union select user_id from user_names where name = :user"
    )
    return sorted(row[0] for row in (await db.execute(sql, {"user": user})).rows)


async def run_search(db, form, ids: list[str]) -> dict:
    narrowed, params = filters(form, ids)
    params["match"] = escape_fts(form.q)
    count_sql = COUNT_SQL.format(narrowed=narrowed)
    counted = (await db.execute(count_sql, {**params, "cap": RANKED_MATCHES + 1})).rows[0][0]
    ranked = RANKED_SQL.format(narrowed=narrowed)
    page = {"ranked": RANKED_MATCHES, "limit": PAGE_SIZE + 1, "offset": (form.page - 1) * PAGE_SIZE}
    rows = (await db.execute(ranked, {**params, **page})).rows
    marks = page_marks()
    hits = [await hit(db, params["match"], row["rowid"], marks) for row in rows[:PAGE_SIZE]]
    return {
        "hits": hits,
        "more": len(rows) > PAGE_SIZE,
        "count_label": f"{COUNT_CAP:,}+" if counted > COUNT_CAP else f"{counted:,}",
        "windowed": counted > RANKED_MATCHES,
        "ranked": f"{RANKED_MATCHES:,}",
    }


async def hit(db, match: str, rowid: int, marks: dict[str, str]) -> dict:
    row = dict((await db.execute(HITS_SQL, {"match": match, "id": rowid, **marks})).rows[0])
    return {**row, "message": marked(row["message"], marks), "reply": marked(row["reply"], marks)}


async def search_page(request, datasette):
    await check_permissions(datasette, request.actor)
    form, error = form_module.parse(request.args)
    db = datasette.get_database(DATABASE)
    results, ids = None, []
    if form.q and not error:
        ids = await user_ids(db, form.user)
        try:
            results = await run_search(db, await narrowing(db, form), ids)
        except QueryInterrupted:
            error = f"q: this search took longer than {datasette.setting('sql_time_limit_ms')} ms: narrow it"
    context = {
        "database": DATABASE,
        "form": form,
        "error": error,
        "results": results,
        "first_number": (form.page - 1) * PAGE_SIZE + 1,
        "page_url": lambda page: form_module.page_url(datasette, form, page),
        "export_url": form_module.export_url(datasette, form, ids) if results else "",
    }
    html = await datasette.render_template("search.html", context, request=request)
    return Response.html(html, status=400 if error else 200)


async def check_permissions(datasette, actor) -> None:
    allowed = await datasette.permission_allowed(actor, "view-instance", default=True)
    allowed = allowed and await datasette.permission_allowed(actor, "view-database", DATABASE, default=True)
    if not (allowed and await datasette.permission_allowed(actor, "view-table", (DATABASE, TABLE), default=True)):
        raise Forbidden("You may not search the conversations")


@hookimpl
def register_routes():
    return [(rf"^/{DATABASE}/search$", search_page)]
