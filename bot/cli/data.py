"""The log's upkeep and reads from the command line: migrate, backup, export, stats and history."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import click

from bot.cli.options import Loader, db_option, settings_with_db
from bot.config.settings import Settings
from bot.core.command_data import CommandData
from bot.core.export_formats import COUNTED, FORMATS, counted, records
from bot.core.formatting import history_text, stats_text
from bot.core.memory import Memory
from bot.exports.files import EXCHANGES, EXCLUDES_FALLBACK_BY_DEFAULT, Output, open_output, write_records
from bot.replica import commands as replica_commands
from bot.replica.progress import growing_file
from bot.store import ConversationLog, Selection, StoreError, utc_now_text
from bot.store.awaiting import WriterResults
from bot.store.blobs import BlobStore, blobs_path, keeping_line
from bot.store.prices import migrate_and_price
from bot.store.scope import Scope
from bot.store.sqlite import sqlite3

DATES = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]


@click.command("migrate")
@db_option
@click.pass_obj
def migrate_command(load: Loader, db: Path | None) -> None:
    """Create or upgrade the conversation log's schema (WAL mode included), then exit."""
    settings = settings_with_db(load, db)
    replica_commands.restore_missing(settings)  # the web process restores a lost log too
    try:
        migrate_and_price(settings.log_db, settings.model_prices)
    except StoreError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"{settings.log_db} is up to date")


@click.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@click.pass_obj
def backup(load: Loader, target: Path, db: Path | None) -> None:
    """Copy the live conversation log to TARGET, consistently, even while the bot writes."""
    settings = settings_with_db(load, db)
    if target.exists():
        raise click.ClickException(f"{target} already exists: choose a new file name.")
    if not settings.log_db.exists():
        raise click.ClickException(f"{settings.log_db} does not exist: nothing to back up.")
    try:
        # The copy leaves out free pages, so the live file's size is its most: the bar's end, roughly.
        with growing_file("Backing up", target, settings.log_db.stat().st_size, target):
            ConversationLog(settings.log_db).backup(target)
        blobs = BlobStore(blobs_path(settings.log_db))
        if blobs.path.exists():  # the kept attachments travel with the log (BOT_KEEP_ATTACHMENTS)
            blobs.backup(blobs_path(target))
    except sqlite3.Error as err:
        raise click.ClickException(f"backup of {settings.log_db} failed: {err}") from None
    click.echo(f"Backed up {settings.log_db} to {target} ({target.stat().st_size:,} bytes)")
    if blobs.path.exists():
        click.echo(f"Backed up {blobs.path} to {blobs_path(target)} ({blobs_path(target).stat().st_size:,} bytes)")


def existing_log(settings: Settings) -> ConversationLog:
    """The log, brought up to date; a missing or unusable file is a one-line error."""
    if not settings.log_db.exists():
        raise click.ClickException(f"{settings.log_db} does not exist: run the bot first, or set CONVERSATION_LOG_DB.")
    try:
        migrate_and_price(settings.log_db, settings.model_prices)
    except StoreError as err:
        raise click.ClickException(str(err)) from None
    return ConversationLog(settings.log_db)


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="csv: the spec's columns, as !export. jsonl: one exchange per line. "
    'chat-jsonl: one conversation per line as {"messages": [...]}, for fine-tuning. '
    "openai, bedrock, kto: fine-tuning formats (docs/training-data.md). "
    'requests: one exchange per line, {"id", "request"}: the Messages API body it was answered from.',
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default="-",
    help="File to write, gzip-compressed when it ends in .gz; - (the default) is standard output.",
)
@click.option("--since", type=click.DateTime(DATES), help="Only exchanges at or after this UTC date.")
@click.option("--until", type=click.DateTime(DATES), help="Only exchanges before this UTC date.")
@click.option("--user", help="Only this user (id or user name).")
@click.option("--channel", help="Only this channel id.")
@click.option("--model", help="Only this model.")
@click.option(
    "--exclude-fallback/--include-fallback",
    default=None,
    help="Leave out static_fallback replies. Default: excluded for chat-jsonl and the fine-tuning formats "
    "(which never keep them), included otherwise.",
)
@click.option("--min-rating", type=int, help="Only replies whose 👍 minus 👎 is at least this (0 drops net 👎).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="At most this many lines: exchanges (csv, jsonl, requests), conversations (chat-jsonl, openai, bedrock) "
    "or rated replies (kto).",
)
@click.option(
    "--system-prompt/--no-system-prompt",
    default=False,
    help="chat-jsonl, openai, bedrock, kto: give each line the system prompt its turns were answered with, "
    "from the log (none for turns logged before it kept them).",
)
@db_option
@click.pass_obj
def export_command(
    load: Loader,
    db: Path | None,
    fmt: str,
    output: Path,
    since: datetime | None,
    until: datetime | None,
    user: str | None,
    channel: str | None,
    model: str | None,
    exclude_fallback: bool | None,
    min_rating: int | None,
    limit: int | None,
    system_prompt: bool,
) -> None:
    """Export the log: a row an exchange (csv, jsonl, requests), or a line a conversation for fine-tuning
    (chat-jsonl, openai, bedrock; kto: a line a rated reply)."""
    settings = settings_with_db(load, db)
    store = existing_log(settings)
    if model and model not in store.models():
        raise click.BadParameter(
            f"no exchange used {model!r}; known: {', '.join(sorted(store.models()))}", param_hint="--model"
        )
    selection = Selection(
        since=utc_now_text(since.replace(tzinfo=UTC)) if since else None,
        until=utc_now_text(until.replace(tzinfo=UTC)) if until else None,
        user=user,
        channel=channel,
        model=model,
        min_rating=min_rating,
        exclude_fallback=fmt in EXCLUDES_FALLBACK_BY_DEFAULT if exclude_fallback is None else exclude_fallback,
    )
    pieces = records(fmt, store, selection, system_prompt=system_prompt, limit=limit)
    to_stdout = str(output) == "-"
    with opened(output, to_stdout) as out:
        count = write_records(with_progress(pieces, store, selection, fmt), out)
    click.echo(f"Exported {counted(fmt, count)} as {fmt}" + ("" if to_stdout else f" to {output}"), err=True)


def opened(output: Path, to_stdout: bool) -> AbstractContextManager[Output]:
    """Standard output is left open after the export; a file is closed (and its gzip stream ended)."""
    if to_stdout:
        return nullcontext(sys.stdout.buffer)
    return open_output(output)


def with_progress(
    pieces: Iterable[tuple[bytes, int]], store: ConversationLog, selection: Selection, fmt: str
) -> Iterator[tuple[bytes, int]]:
    """A progress bar on a terminal only: piped or redirected stderr gets none."""
    if not sys.stderr.isatty():
        yield from pieces
        return
    if COUNTED[fmt] != EXCHANGES:
        # A line a conversation or rated reply: how many is known once written, so the bar counts them (a bar
        # over the selection's exchanges stopped short of 100%: 2 conversations of 5 exchanges ended at 40%).
        with click.progressbar(pieces, label=f"Exporting {COUNTED[fmt][1]}", show_pos=True, file=sys.stderr) as lines:
            yield from lines
        return
    total = store.count(selection)
    with click.progressbar(length=total, label="Exporting", file=sys.stderr) as bar:
        for data, count in pieces:
            bar.update(count)
            yield data, count


@click.command("stats")
@db_option
@click.pass_obj
def stats_command(load: Loader, db: Path | None) -> None:
    """Print the !stats figures, every server's (the owner's `!stats all`)."""
    settings = settings_with_db(load, db)
    # The commands' own path (CommandData), so the CLI and !stats cannot drift apart; the memory is never opened.
    data = CommandData(
        existing_log(settings), Memory(settings.memory_db), WriterResults(), retention_days=settings.retention_days
    )
    click.echo(stats_text(asyncio.run(data.stats(Scope.everything()))))
    click.echo(keeping_line(settings.keep_attachments))


@click.command("history")
@click.argument("user")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1))
@db_option
@click.pass_obj
def history_command(load: Loader, user: str, limit: int, db: Path | None) -> None:
    """Print a user's last exchanges (USER: id, user name or display name), as !history shows them."""
    settings = settings_with_db(load, db)
    rows = existing_log(settings).user_history(user, limit)
    click.echo(history_text(rows) if rows else f"No exchanges found for {user}.")
