"""The command line: `python -m bot` (or `conversation-bot`) runs the Discord bot; its subcommands by job.

running.py: the bot and the console; data.py: the log's upkeep and reads; bot/replica/commands.py:
restore, status and the one-machine deployment.

The settings are read when a command runs, not when the line is parsed, so `--help` and `--version`
work whatever `.env` holds. Every command gets `ctx.obj`, a loader that reads them once (options.Loader).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import tomllib

import click

from bot.cli import data, health, running
from bot.cli.options import Loader
from bot.config.settings import ROOT, ConfigError, Settings
from bot.demo.command import demo
from bot.replica import commands as replica_commands

DISTRIBUTION = "conversation-bot"  # pyproject.toml's [project] name


def project_version() -> str:
    """The installed distribution's version, or pyproject.toml's when run from a checkout (make run)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def settings_loader(env_file: str) -> Loader:
    @functools.cache
    def load() -> Settings:
        try:
            settings = Settings.from_env(dotenv_path=env_file)
        except ConfigError as err:
            raise click.ClickException(str(err)) from None
        logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return settings

    return load


@click.group(invoke_without_command=True)
@click.version_option(project_version(), "--version", prog_name=DISTRIBUTION, message="%(prog)s %(version)s")
@click.option("--env-file", default=".env", show_default=True, help="Settings file read before the environment.")
@click.pass_context
def cli(ctx: click.Context, env_file: str) -> None:
    """A Discord bot that answers with Claude and logs every exchange to SQLite."""
    ctx.obj = settings_loader(env_file)
    if ctx.invoked_subcommand is None:
        ctx.invoke(running.run)


COMMANDS = (
    running.run,
    running.console,
    data.migrate_command,
    data.backup,
    data.export_command,
    data.stats_command,
    data.history_command,
    replica_commands.restore,
    replica_commands.status,
    replica_commands.run_all,
    replica_commands.children,
    health.health,
    demo,
)


def summary(command: click.Command) -> str:
    """The docstring's first paragraph, whole: click cuts its own summary at ~45 characters with "..."."""
    return " ".join((command.help or "").split("\n\n")[0].split())


for command in COMMANDS:
    command.short_help = summary(command)
    cli.add_command(command)


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
