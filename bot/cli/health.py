"""`python -m bot health`: the image's HEALTHCHECK. Both of `all`'s processes, checked for real:

- web: Datasette answers HTTP on 127.0.0.1:$PORT (its login page needs no login);
- worker: its event loop touched the heartbeat file within HEARTBEAT_STALE_S. The loop beats while it
  retries an unreachable Discord too: the process is alive and will connect once Discord is back, and
  calling it unhealthy would only get the web restarted with it.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

from bot.cli.options import Loader
from bot.config.settings import Settings

HEARTBEAT_S = 30.0  # how often the worker touches its file: an mtime write, nothing read
HEARTBEAT_STALE_S = 3 * HEARTBEAT_S  # three missed beats: a loop stuck that long is not coming back
WEB_TIMEOUT_S = 5.0  # Datasette's login page takes ~10 ms; 5 s allows for a loaded machine
WEB_PATH = "/-/login"


def heartbeat_file(settings: Settings) -> Path:
    """Beside the memory database, as the slash commands' hash is: a volume the worker can write."""
    return settings.memory_db.parent / "worker.heartbeat"


async def beat(path: Path) -> None:
    """Touch `path` every HEARTBEAT_S while the event loop runs (a task of the worker's loop)."""
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    while True:
        await asyncio.to_thread(path.touch)  # a disk stalled by a big commit must not stall the loop
        await asyncio.sleep(HEARTBEAT_S)


def web_problem(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{WEB_PATH}", timeout=WEB_TIMEOUT_S) as answer:
            status = answer.status
    except urllib.error.HTTPError as err:
        status = err.code
    except (urllib.error.URLError, OSError) as err:
        return f"web: nothing answers on 127.0.0.1:{port} ({getattr(err, 'reason', err)})"
    return f"web: 127.0.0.1:{port}{WEB_PATH} answered HTTP {status}" if status >= 500 else None


def worker_problem(path: Path) -> str | None:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return f"worker: no heartbeat at {path}: the bot is not running"
    if age > HEARTBEAT_STALE_S:
        return f"worker: last heartbeat {age:.0f} s ago at {path} (more than {HEARTBEAT_STALE_S:g} s)"
    return None


@click.command()
@click.pass_obj
def health(load: Loader) -> None:
    """Check that Datasette answers on $PORT and the bot's heartbeat is fresh (the image's HEALTHCHECK)."""
    settings = load()
    problems = [p for p in (web_problem(settings.port), worker_problem(heartbeat_file(settings))) if p]
    if problems:
        raise click.ClickException("; ".join(problems))
    click.echo(f"healthy: web answers on 127.0.0.1:{settings.port}, worker beat within {HEARTBEAT_STALE_S:g} s")
