"""/-/attachments/SHA256: the kept bytes of a file sent to Claude (BOT_KEEP_ATTACHMENTS), for owners only.

The bytes live in `conversation_logs.blobs.db` beside the log (bot/store/blobs.py says why); this plugin reads
that file and nothing of the bot's package. An owner is an account of datasette-auth-passwords, logged in (a
session cookie or Basic credentials, checked by login.py): anyone else gets 401 (no one logged in) or 403
(an actor that is no such account, e.g. `datasette --root`); a hash that is not 64 lowercase hex digits, or
that no file has, is 404, so a guess learns nothing and no path can reach another file.

Only PNG, JPEG, GIF and WebP (what Claude reads, and what the bot checked the header of) are served as
images, inline. Anything else, SVG included (it can carry script), is text/plain and a download; every
answer says nosniff, so no browser second-guesses the type, and is never cached by a shared cache.
"""

import asyncio
import json
import re
import sqlite3
import sys
from pathlib import Path

from datasette import hookimpl
from datasette.utils.asgi import Response

# Datasette runs each file here alone, by path, and `datasette serve`'s sys.path holds its bin/, not the
# project: with the project on the path, the other files import as the package `plugins`, once a process.
# First on the path, so a copy of plugins/ elsewhere (bench/login.py --before) imports its own files.
PROJECT = str(Path(__file__).resolve().parent.parent)
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)

from plugins.login_guard import accounts_of  # noqa: E402 (after the path it needs)

DATABASE = "conversation_logs"
BLOBS_SUFFIX = ".blobs.db"  # bot/store/blobs.py's BLOBS_SUFFIX
ROUTE = "/-/attachments/"
HASH = re.compile(r"[0-9a-f]{64}")
INLINE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
SAFETY = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"}


def is_owner(datasette, actor) -> bool:
    accounts = accounts_of(datasette.plugin_config("datasette-auth-passwords") or {})
    return isinstance(actor, dict) and actor.get("id") in accounts


def blobs_file(datasette) -> Path | None:
    """The blob file beside the log Datasette serves; None when it serves no log from a file."""
    database = datasette.databases.get(DATABASE)
    if database is None or not database.path:
        return None
    path = Path(database.path)
    return path.with_name(path.stem + BLOBS_SUFFIX)


def _read(path: Path, sql: str, params: list) -> list[tuple]:
    if not path.exists():
        return []
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)  # as_uri escapes '?' and '#'
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # the file exists but its table was never made
        return []
    finally:
        conn.close()


async def attachment(datasette, request) -> Response:
    if request.actor is None:
        return Response.text("Log in as an owner to see attachments.", status=401, headers=SAFETY)
    if not is_owner(datasette, request.actor):
        return Response.text("Only an owner may see attachments.", status=403, headers=SAFETY)
    sha256, path = request.url_vars["sha256"], blobs_file(datasette)
    rows = (
        []
        if path is None or not HASH.fullmatch(sha256)
        else await asyncio.to_thread(_read, path, "select media_type, data from blobs where sha256 = ?", [sha256])
    )
    if not rows:
        return Response.text("No such attachment.", status=404, headers=SAFETY)
    media_type, data = rows[0]
    if media_type in INLINE_TYPES:
        disposition = f'inline; filename="{sha256}.{INLINE_TYPES[media_type]}"'
        return Response(bytes(data), content_type=media_type, headers={**SAFETY, "Content-Disposition": disposition})
    disposition = f'attachment; filename="{sha256}.txt"'
    headers = {**SAFETY, "Content-Disposition": disposition}
    return Response(bytes(data), content_type="text/plain; charset=utf-8", headers=headers)


async def add_thumbnails(datasette, request, exchanges: list[dict]) -> None:
    """Each exchange's kept images as {name, url}, for an owner only; everyone else sees none."""
    for exchange in exchanges:
        exchange["thumbs"] = []
    path = blobs_file(datasette)
    if path is None or not is_owner(datasette, request.actor):
        return
    wanted = {e["id"]: _images(e.get("attachments")) for e in exchanges if "id" in e}
    hashes = sorted({image["sha256"] for images in wanted.values() for image in images})
    marks = ",".join("?" * len(hashes))
    rows = await asyncio.to_thread(_read, path, f"select sha256 from blobs where sha256 in ({marks})", hashes)
    present = {sha for (sha,) in rows}
    for exchange in exchanges:
        exchange["thumbs"] = [
            {"name": image["name"], "url": datasette.urls.path(ROUTE + image["sha256"])}
            for image in wanted.get(exchange.get("id"), [])
            if image["sha256"] in present
        ]


def _images(column) -> list[dict]:
    """The sent images of an attachments column that name a well-formed SHA-256; anything else is skipped."""
    try:
        items = json.loads(column) if isinstance(column, str) else []
    except ValueError:
        return []
    return [
        {"name": str(item.get("name")), "sha256": item["sha256"]}
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
        and item.get("type") in INLINE_TYPES
        and isinstance(item.get("sha256"), str)
        and HASH.fullmatch(item["sha256"])
    ]


@hookimpl
def register_routes():
    return [(r"^/-/attachments/(?P<sha256>[^/]+)$", attachment)]
