"""The search page's form (plugins/search.py): its fields read and checked, and the links built from them.

No Datasette hooks here. Datasette loads this file as a plugin too, which is harmless; it does so without a
sys.modules entry, so no `from __future__ import annotations` (the dataclass would look its module up).
"""

import datetime
import re
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from datasette.utils import escape_fts

FIELDS = ("q", "user", "guild", "since", "until")
MAX_PAGE = 500  # 10,000 hits at 20 a page: past that, narrow the search
# A day as SQLite's date() reads it. Python's fromisoformat also takes an ISO week (2026-W48-1), which
# SQLite does not: the page found nothing where its download, built from Python's reading, had rows.
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The last `until`: the search ends before the next day, and Python's and SQLite's calendars end at 9999-12-31.
LAST_UNTIL = datetime.date.max - datetime.timedelta(days=1)
PAGE = re.compile(r"[0-9]+")  # ASCII only: "²".isdigit() is True, and int("²") raises


@dataclass(frozen=True)
class SearchForm:
    q: str = ""
    user: str = ""
    guild: str = ""
    since: str = ""
    until: str = ""
    page: int = 1

    def args(self) -> dict[str, str]:
        """The filled fields, as the page's own URL carries them."""
        values = {name: getattr(self, name) for name in FIELDS}
        return {name: value for name, value in values.items() if value} | (
            {"page": str(self.page)} if self.page > 1 else {}
        )


def day_problem(name: str, value: str) -> str | None:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return f"{name}: expected a day like 2026-11-29, got {value!r}"
    return None if DAY.fullmatch(value) else f"{name}: expected a day like 2026-11-29, got {value!r}"


def until_problem(value: str) -> str | None:
    if day_problem("until", value) or datetime.date.fromisoformat(value) <= LAST_UNTIL:
        return None  # a malformed day is day_problem's to name
    return f"until: expected a day up to {LAST_UNTIL.isoformat()}, got {value!r}"


def words_problem(value: str) -> str | None:
    """Datasette's escaping (each word quoted) leaves nothing of a lone quote mark, which FTS5 refuses; FTS5
    reads a query only up to a NUL ("unterminated string")."""
    if "\x00" in value:
        return f"q: a NUL character cannot be searched for, got {value!r}"
    if escape_fts(value):
        return None
    return f"q: expected a word to search for, got {value!r}"


def page_problem(value: str) -> str | None:
    if PAGE.fullmatch(value) and 1 <= int(value) <= MAX_PAGE:
        return None
    return f"page: expected a whole number from 1 to {MAX_PAGE}, got {value!r}"


def parse(args) -> tuple[SearchForm, str | None]:
    """The form from the query string, and the first field that is wrong (named), if any."""
    values = {name: (args.get(name) or "").strip() for name in FIELDS}
    page = (args.get("page") or "1").strip()
    problems = [words_problem(values["q"])] if values["q"] else []
    problems += [day_problem(name, values[name]) for name in ("since", "until") if values[name]]
    problems += [until_problem(values["until"])] if values["until"] else []
    problems.append(page_problem(page))
    error = next((problem for problem in problems if problem), None)
    return SearchForm(**values, page=int(page) if page_problem(page) is None else 1), error


def page_url(datasette, form: SearchForm, page: int) -> str:
    return datasette.urls.database("conversation_logs") + "/search?" + urlencode(replace(form, page=page).args())


def next_day(day: str) -> str:
    return (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()


def export_url(datasette, form: SearchForm, user_ids: list[str]) -> str:
    """The table's streamed CSV of every match (Datasette's own `_search`, the same escaping), as a download."""
    params = [("_search", form.q)]
    if form.user:
        # No id at all for an unknown name: an id no user has, so the download is empty like the page.
        params.append(("user_id__in", ",".join(user_ids) or "-"))
    if form.guild:
        params.append(("guild_id", form.guild))
    if form.since:
        params.append(("timestamp__gte", form.since))
    if form.until:
        params.append(("timestamp__lt", next_day(form.until)))
    params += [("_stream", "on"), ("_size", "max"), ("_dl", "on")]
    return datasette.urls.table("conversation_logs", "conversations", format="csv") + "?" + urlencode(params)
