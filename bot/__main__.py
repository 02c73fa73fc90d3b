"""`python -m bot` runs the Discord bot; `python -m bot console` chats in the terminal."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import sys
from pathlib import Path

import click
import discord
import yarl

from .console import Console
from .discord_bot import ConversationBot
from .service import open_service
from .settings import ConfigError, Settings
from . import store
from .store import StoreError

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
@click.pass_obj
def run(settings: Settings) -> None:
    """Connect to Discord and answer (the default)."""
    if not settings.discord_token:
        raise click.ClickException(NO_TOKEN)
    try:
        asyncio.run(run_discord(settings))
    except StoreError as err:
        raise click.ClickException(str(err)) from None
    except discord.LoginFailure:
        raise click.ClickException("Discord rejected DISCORD_TOKEN: copy the bot token again from the developer portal.") from None
    except discord.PrivilegedIntentsRequired:
        raise click.ClickException(
            "Discord refused the Message Content intent: enable it under Bot → Privileged Gateway Intents."
        ) from None


@cli.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Create or upgrade the conversation log's schema (WAL mode included), then exit."""
    try:
        store.migrate(settings.log_db)
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
        store.ConversationLog(settings.log_db).backup(target)
    except sqlite3.Error as err:
        raise click.ClickException(f"backup of {settings.log_db} failed: {err}") from None
    click.echo(f"Backed up {settings.log_db} to {target} ({target.stat().st_size:,} bytes)")


@cli.command()
@click.pass_obj
def console(settings: Settings) -> None:
    """Chat in the terminal through the same pipeline, with no Discord token needed."""
    try:
        asyncio.run(run_console(settings))
    except StoreError as err:
        raise click.ClickException(str(err)) from None


def use_discord_endpoints(settings: Settings) -> None:
    """Point discord.py at a REST proxy or another gateway; these are its two class-level settings."""
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def run_discord(settings: Settings) -> None:
    use_discord_endpoints(settings)
    async with open_service(settings) as service:
        bot = ConversationBot(settings, service)
        stop_on_signals(lambda: asyncio.ensure_future(bot.close()))
        async with bot:
            await bot.start(settings.discord_token)
    log.info("stopped; the conversation log is flushed")


async def run_console(settings: Settings) -> None:
    async with open_service(settings) as service:
        await Console(service, prefix=settings.command_prefix).run()


def stop_on_signals(stop) -> None:
    """SIGINT and SIGTERM close the bot cleanly, so everything pending is written first."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


if __name__ == "__main__":
    sys.exit(cli())
