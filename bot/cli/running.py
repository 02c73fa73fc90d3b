"""`python -m bot run` (the default) connects to Discord; `python -m bot console` chats in the terminal."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable

import click

from bot.cli.health import beat, heartbeat_file
from bot.cli.options import Loader
from bot.config.settings import Settings
from bot.replica import commands as replica_commands
from bot.replica.replicator import Replicator, ReplicaWatch, Unwatched
from bot.store import StoreError

log = logging.getLogger("bot")

NO_TOKEN = (
    "DISCORD_TOKEN is not set. Put DISCORD_TOKEN=... in .env or the environment "
    "(docs/configuration.md: 'Create the Discord bot'), or try the bot without Discord: make console"
)


@click.command()
@click.option(
    "--replicate/--no-replicate",
    default=True,
    help="With LITESTREAM_REPLICA_URL, run Litestream beside the bot (off under `all`, which runs it).",
)
@click.option(
    "--stay-up",
    is_flag=True,
    help="When trying again cannot help (no DISCORD_TOKEN, token or intent refused), say why in one line, "
    "then wait to be stopped instead of exiting: honcho (the Procfile, make start) stops every process "
    "when one exits, and would take the web process down with this one.",
)
@click.pass_obj
def run(load: Loader, replicate: bool = True, stay_up: bool = False) -> None:
    """Connect to Discord and answer (the default)."""
    settings = load()
    try:
        connect(settings, replicate)
    except click.ClickException as err:
        if not stay_up:
            raise
        click.echo(f"Error: {err.format_message()} (--stay-up: waiting to be stopped)", err=True)
        wait_for_stop()
        sys.exit(err.exit_code)


def wait_for_stop() -> None:
    """Block until SIGTERM or SIGINT: what honcho sends every process when another exits or on Ctrl-C."""
    stopped: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _: stopped.append(signum))
    while not stopped:
        signal.pause()


def connect(settings: Settings, replicate: bool) -> None:
    """Run the bot until stopped; an error that trying again cannot mend is a ClickException."""
    if not settings.discord_token:
        raise click.ClickException(NO_TOKEN)
    import discord  # only the bot itself needs discord.py; the data commands start faster without it

    replica_commands.restore_missing(settings)
    replicator = Replicator(settings).start() if settings.replica and replicate else None
    try:
        asyncio.run(run_discord(settings, replicator or Unwatched(settings)))
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


@click.command()
@click.pass_obj
def console(load: Loader) -> None:
    """Chat in the terminal through the same pipeline, with no Discord token needed."""
    settings = load()
    replica_commands.restore_missing(settings)
    try:
        asyncio.run(run_console(settings))
    except StoreError as err:
        raise click.ClickException(str(err)) from None


def use_discord_endpoints(settings: Settings) -> None:
    """Point discord.py at a REST proxy or another gateway; these are its two class-level settings."""
    import discord
    import yarl

    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def run_discord(settings: Settings, replica: ReplicaWatch) -> None:
    from bot.core.service import open_service
    from bot.discord_front.bot import ConversationBot, run_bot

    use_discord_endpoints(settings)
    heartbeat = asyncio.create_task(beat(heartbeat_file(settings)))  # read by `python -m bot health`
    async with open_service(settings) as service:
        current: list[ConversationBot] = []  # the bot now connected: a refused intent or an unreachable Discord
        stopping = asyncio.Event()  # starts another; also ends a wait before the next attempt to reach Discord
        closing: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to its tasks

        def stop() -> None:
            stopping.set()
            task = asyncio.ensure_future(current[-1].close())
            closing.add(task)
            task.add_done_callback(closing.discard)

        stop_on_signals(stop)
        try:
            await run_bot(settings, service, replica, started=current.append, stopping=stopping)
        finally:
            heartbeat.cancel()
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
        await Console(service, settings).run()


def stop_on_signals(stop: Callable[[], None]) -> None:
    """SIGINT and SIGTERM close the bot cleanly, so everything pending is written first."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
