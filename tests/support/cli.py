"""The bot's CLI in the test's process (click's runner), on a given log, reading no .env file."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from bot.__main__ import cli


def run_on_log(log: Path, *args: str) -> Result:
    """`python -m bot ARGS` with CONVERSATION_LOG_DB=log; stdout and stderr both in `.output`."""
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env={"CONVERSATION_LOG_DB": str(log)})
