"""`python -m bot` runs the Discord bot; `python -m bot console` chats in the terminal."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import UTC
from pathlib import Path

import click

from bot.config.settings import ConfigError, Settings
from bot.core.formatting import history_text, stats_text
from bot.exports.files import EXCLUDES_FALLBACK_BY_DEFAULT, FORMATS, open_output, records, write_records
from bot.replica import commands as replica_commands
from bot.replica.replicator import Replicator
from bot.store import ConversationLog, Selection, StoreError, utc_now_text
from bot.store.prices import migrate_and_price
from bot.store.sqlite import sqlite3

log = logging.getLogger("bot")

NO_TOKEN = (
    "DISCORD_TOKEN is not set. Put DISCORD_TOKEN=... in .env or the environment "
    "(README: 'Create the Discord bot'), or try the bot without Discord: python -m bot console"
)


@click.group(invoke_without_command=True)
@click.option("--env-file", default=".env", show_default=True, help="Settings file read before the environment.")
@click.pass_context
def cli(ctx: click.Context, env_file: str) -> None:
    """A Discord bot that answers with Claude and logs every exchange to SQLite."""
    try:
        ctx.obj = Settings.from_env(dotenv_path=env_file)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    logging.basicConfig(level=ctx.obj.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


@cli.command()
@click.option(
    "--replicate/--no-replicate",
    default=True,
    help="With LITESTREAM_REPLICA_URL, run Litestream beside the bot (off under `all`, which runs it).",
)
@click.pass_obj
def run(settings: Settings, replicate: bool = True) -> None:
    """Connect to Discord and answer (the default)."""
    if not settings.discord_token:
        raise click.ClickException(NO_TOKEN)
    import discord  # only the bot itself needs discord.py; the data commands start faster without it

    replica_commands.restore_missing(settings)
    replicator = Replicator(settings).start() if settings.replica and replicate else None
    try:
        asyncio.run(run_discord(settings))
    except StoreError as err:
        raise click.ClickException(str(err)) from None
    except discord.LoginFailure:
        raise click.ClickException(
            "Discord rejected DISCORD_TOKEN: copy the bot token again from the developer portal."
        ) from None
    except discord.PrivilegedIntentsRequired:  # only when started without Message Content: another intent
        raise click.ClickException(
            "Discord refused a privileged intent: check Bot → Privileged Gateway Intents in the developer portal."
        ) from None
    finally:
        if replicator:
            replicator.stop()  # after the log is flushed: Litestream's last sync takes every row


@cli.command("migrate")
@click.pass_obj
def migrate_command(settings: Settings) -> None:
    """Create or upgrade the conversation log's schema (WAL mode included), then exit."""
    replica_commands.restore_missing(settings)  # the web process restores a lost log too
    try:
        migrate_and_price(settings.log_db, settings.model_prices)
    except StoreError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"{settings.log_db} is up to date")


@cli.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def backup(settings: Settings, target: Path) -> None:
    """Copy the live conversation log to TARGET, consistently, even while the bot writes."""
    if target.exists():
        raise click.ClickException(f"{target} already exists: choose a new file name.")
    if not settings.log_db.exists():
        raise click.ClickException(f"{settings.log_db} does not exist: nothing to back up.")
    try:
        ConversationLog(settings.log_db).backup(target)
    except sqlite3.Error as err:
        raise click.ClickException(f"backup of {settings.log_db} failed: {err}") from None
    click.echo(f"Backed up {settings.log_db} to {target} ({target.stat().st_size:,} bytes)")


DATES = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]


def existing_log(settings: Settings) -> ConversationLog:
    """The log, brought up to date; a missing or unusable file is a one-line error."""
    if not settings.log_db.exists():
        raise click.ClickException(f"{settings.log_db} does not exist: run the bot first, or set CONVERSATION_LOG_DB.")
    try:
        migrate_and_price(settings.log_db, settings.model_prices)
    except StoreError as err:
        raise click.ClickException(str(err)) from None
    return ConversationLog(settings.log_db)


@cli.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="csv",
    show_default=True,
    help="csv: the spec's columns, as !export. jsonl: one exchange per line. "
    'chat-jsonl: one conversation per line as {"messages": [...]}, for fine-tuning. '
    "openai, bedrock, kto: fine-tuning formats (README: 'Fine-tuning exports').",
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
    "--limit", type=click.IntRange(min=1), help="At most this many lines (conversations, or rated replies for kto)."
)
@click.option(
    "--system-prompt/--no-system-prompt",
    default=False,
    help="chat-jsonl, openai, bedrock, kto: give each line the bot's system prompt.",
)
@click.pass_obj
def export_command(
    settings: Settings,
    fmt: str,
    output: Path,
    since,
    until,
    user,
    channel,
    model,
    exclude_fallback,
    min_rating,
    limit,
    system_prompt,
) -> None:
    """Export conversations: CSV, JSON lines, or chat JSON lines for fine-tuning."""
    store = existing_log(settings)
    if model and model not in store.models():
        raise click.BadParameter(
            f"no conversation used {model!r}; known: {', '.join(sorted(store.models()))}", param_hint="--model"
        )
    selection = Selection(
        since=since and utc_now_text(since.replace(tzinfo=UTC)),
        until=until and utc_now_text(until.replace(tzinfo=UTC)),
        user=user,
        channel=channel,
        model=model,
        min_rating=min_rating,
        exclude_fallback=fmt in EXCLUDES_FALLBACK_BY_DEFAULT if exclude_fallback is None else exclude_fallback,
    )
    pieces = records(
        fmt, store, selection, system_prompt=settings.system_prompt if system_prompt else None, limit=limit
    )
    with click.open_file("-", "wb") if str(output) == "-" else open_output(output) as out:
        count = write_records(with_progress(pieces, store, selection), out)
    kind = {"csv": "exchanges", "jsonl": "exchanges", "kto": "rated replies"}.get(fmt, "conversations")
    click.echo(f"Exported {count:,} {kind} as {fmt}" + ("" if str(output) == "-" else f" to {output}"), err=True)


def with_progress(pieces, store: ConversationLog, selection: Selection):
    """A progress bar on a terminal only: piped or redirected stderr gets none."""
    if not sys.stderr.isatty():
        yield from pieces
        return
    total = store.count(selection)
    with click.progressbar(length=total, label="Exporting", file=sys.stderr) as bar:
        for data, count in pieces:
            bar.update(count)
            yield data, count


@cli.command("stats")
@click.pass_obj
def stats_command(settings: Settings) -> None:
    """Print the !stats figures."""
    figures = {**existing_log(settings).stats(), "retention_days": settings.retention_days}
    click.echo(stats_text(figures))


@cli.command("history")
@click.argument("user")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1))
@click.pass_obj
def history_command(settings: Settings, user: str, limit: int) -> None:
    """Print a user's last conversations (USER: id, user name or display name), as !history shows them."""
    rows = existing_log(settings).history(user, limit)
    click.echo(history_text(rows) if rows else f"No conversations found for {user}.")


@cli.command()
@click.pass_obj
def console(settings: Settings) -> None:
    """Chat in the terminal through the same pipeline, with no Discord token needed."""
    replica_commands.restore_missing(settings)
    try:
        asyncio.run(run_console(settings))
    except StoreError as err:
        raise click.ClickException(str(err)) from None


for command in (replica_commands.restore, replica_commands.status, replica_commands.run_all, replica_commands.children):
    cli.add_command(command)


def use_discord_endpoints(settings: Settings) -> None:
    """Point discord.py at a REST proxy or another gateway; these are its two class-level settings."""
    import discord
    import yarl

    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def run_discord(settings: Settings) -> None:
    from bot.core.service import open_service
    from bot.discord_front.bot import run_bot

    use_discord_endpoints(settings)
    async with open_service(settings) as service:
        current = []  # the bot now connected: a refused intent or an unreachable Discord starts another
        stopping = asyncio.Event()  # also ends a wait before the next attempt to reach Discord

        def stop() -> None:
            stopping.set()
            asyncio.ensure_future(current[-1].close())

        stop_on_signals(stop)
        await run_bot(settings, service, started=current.append, stopping=stopping)
    if service.store.writer.lost:
        log.error(
            "stopped; %d exchange(s) could not be written to the conversation log or its spool "
            "(message ids in the ERROR line above)",
            len(service.store.writer.lost),
        )
    else:
        log.info("stopped; the conversation log is flushed")


async def run_console(settings: Settings) -> None:
    from bot.console import Console
    from bot.core.service import open_service

    async with open_service(settings) as service:
        await Console(service, prefix=settings.command_prefix).run()


def stop_on_signals(stop) -> None:
    """SIGINT and SIGTERM close the bot cleanly, so everything pending is written first."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


def main() -> int:
    """Every error is one line: click's usage errors would add two lines of usage first."""
    try:
        return cli(standalone_mode=False) or 0
    except click.ClickException as err:
        click.echo(f"Error: {err.format_message()}", err=True)
        return err.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
