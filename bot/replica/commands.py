"""`python -m bot restore`, `status`, and `all` (the one-machine deployment); __main__ registers them."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click

from bot import store
from bot.config.settings import ROOT, Settings
from bot.replica import litestream as replication
from bot.replica.litestream import ReplicaError
from bot.replica.litestream_config import BLOBS_REPLICA
from bot.replica.progress import growing_file
from bot.replica.supervise import supervise
from bot.store.blobs import blobs_path
from bot.store.sqlite import sqlite3

log = logging.getLogger("bot")

TIMESTAMPS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]


def restore_missing(settings: Settings) -> None:
    """Bring back a lost log (and memory) before anything opens them; one line if that cannot be."""
    try:
        replication.restore_missing(settings)
    except ReplicaError as err:
        raise click.ClickException(str(err)) from None


@click.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--timestamp",
    type=click.DateTime(TIMESTAMPS),
    help="UTC time to restore to (point-in-time recovery); default: the latest.",
)
@click.option("--memory", is_flag=True, help="Restore the memory (bot_memory.db) instead of the log.")
@click.option(
    "--blobs", is_flag=True, help="Restore the kept attachments (conversation_logs.blobs.db) instead of the log."
)
@click.pass_obj
def restore(load: Callable[[], Settings], target: Path, timestamp: datetime | None, memory: bool, blobs: bool) -> None:
    """Restore the log from the replica into TARGET, a new file; the live log is never touched."""
    settings = load()
    if settings.replica is None:
        raise click.ClickException("LITESTREAM_REPLICA_URL is not set: there is no replica to restore from.")
    live = {settings.log_db.resolve(), settings.memory_db.resolve(), blobs_path(settings.log_db).resolve()}
    if target.exists() or target.resolve() in live:
        raise click.ClickException(f"{target} already exists: restore into a new file, never over a database.")
    if memory and blobs:
        raise click.ClickException("--memory and --blobs each name one file to restore: give one of them.")
    name = "bot_memory.db" if memory else BLOBS_REPLICA if blobs else "conversation_logs.db"
    moment = timestamp.replace(tzinfo=UTC) if timestamp else None
    try:
        with growing_file(f"Restoring {name}", replication.restoring_path(target), None, target):
            found = replication.restore(settings, name, target, moment)
    except ReplicaError as err:
        raise click.ClickException(str(err)) from None
    when = f"as of {moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "latest"
    if not found:
        raise click.ClickException(f"the replica {settings.replica.url_for(name)} holds nothing ({when}).")
    click.echo(f"Restored {name} ({when}) to {target}{_count(target, memory, blobs)}")


def _count(path: Path, memory: bool, blobs: bool) -> str:
    table = "turns" if memory else "blobs" if blobs else "conversations"
    with sqlite3.connect(path) as conn:
        return f": {conn.execute(f'select count(*) from {table}').fetchone()[0]:,} {table}"


@click.command()
@click.pass_obj
def status(load: Callable[[], Settings]) -> None:
    """Show the replica's lag: its last transaction and how old that is. Exits 1 past the alarm."""
    found = replication.status(load())
    click.echo(found.line)
    if found.exit_code:
        sys.exit(found.exit_code)


@click.command("all")
@click.pass_context
def run_all(ctx: click.Context) -> None:
    """Run the bot and Datasette on one machine, under `litestream replicate -exec` when replicating."""
    settings: Settings = ctx.obj()
    restore_missing(settings)
    try:
        store.migrate(settings.log_db)
    except store.StoreError as err:
        raise click.ClickException(str(err)) from None
    env_file = str(Path(ctx.find_root().params["env_file"]).resolve())
    children = [sys.executable, "-m", "bot", "--env-file", env_file, "children"]
    if settings.replica is None:
        log.warning("LITESTREAM_REPLICA_URL is not set: nothing is replicated, the log lives on this disk only")
        sys.exit(supervise(child_commands(ctx), child_env(settings)))
    config = replication.write_config(settings)
    argv = [replication.litestream_binary(), "replicate", "-config", str(config), "-exec", shlex.join(children)]
    # Litestream takes this process's place: a platform's SIGTERM reaches it, it forwards it to the
    # supervisor, waits for the bot to flush, then makes its last sync.
    os.execve(argv[0], argv, {**replication.child_env(settings), **child_env(settings)})


@click.command(hidden=True)
@click.pass_context
def children(ctx: click.Context) -> None:
    """The supervisor under Litestream's -exec."""
    sys.exit(supervise(child_commands(ctx), child_env(ctx.obj())))


def child_commands(ctx: click.Context) -> dict[str, list[str]]:
    env_file = str(Path(ctx.find_root().params["env_file"]).resolve())
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    return {
        "worker": [sys.executable, "-m", "bot", "--env-file", env_file, "run", "--no-replicate"],
        "web": ["sh", "-c", web.removeprefix("web:").strip()],  # the Procfile's own line: one truth
    }


def child_env(settings: Settings) -> dict[str, str]:
    """Children get every setting ours were read from (`.env` included), with the venv's tools (datasette)
    first on PATH and the web port."""
    bin_dir = os.path.dirname(sys.executable)
    return {
        **settings.environment,
        "PATH": f"{bin_dir}:{settings.environment.get('PATH', '')}",
        "PORT": str(settings.port),
        "CONVERSATION_LOG_DB": str(settings.log_db.resolve()),
        "BOT_MEMORY_DB": str(settings.memory_db.resolve()),
    }
