"""The command line: `python -m bot` (or `conversation-bot`) runs the Discord bot; its subcommands by job.

running.py: the bot and the console; data.py: the log's upkeep and reads; bot/replica/commands.py:
restore, status and the one-machine deployment.
"""

from __future__ import annotations

import logging

import click

from bot.cli import data, running
from bot.config.settings import ConfigError, Settings
from bot.demo.command import demo
from bot.replica import commands as replica_commands


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
    demo,
)
for command in COMMANDS:
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
