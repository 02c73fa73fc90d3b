"""The command line itself (issue 22, point 7): whole summaries, --help whatever .env holds, --version,
--db on the data commands, rich progress bars on backup and restore, and `stats` through CommandData."""

from __future__ import annotations

import fcntl
import http.server
import os
import struct
import subprocess
import sys
import termios
import threading
import time
import tomllib
from functools import partial
from http.server import SimpleHTTPRequestHandler

import pytest
from click.testing import CliRunner

from bot.__main__ import cli
from bot.cli import COMMANDS
from bot.cli.health import HEARTBEAT_STALE_S
from bot.core.command_data import CommandData
from bot.core.memory import Memory
from bot.replica import litestream as replication
from bot.store import ConversationLog
from bot.store.scope import Scope
from tests.support import PROJECT
from tests.support.logs import exchange
from tests.support.processes import clean_env
from tests.support.replica_fixtures import message_ids, replicated_settings

ROWS = 12
TERMINAL_COLUMNS, TERMINAL_ROWS = 120, 40


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env or {}, terminal_width=200)


def logged(path, rows: int = ROWS):
    with ConversationLog(path) as store:
        for n in range(rows):
            store.submit(exchange(n)).result()
    return path


def test_the_command_list_gives_every_summary_whole():
    shown = invoke("--env-file", "/dev/null", "--help").output
    listing = " ".join(shown.split("Commands:")[1].split())
    visible = [command for command in COMMANDS if not command.hidden]
    for command in visible:
        first_paragraph = " ".join(command.help.split("\n\n")[0].split())
        assert f"{command.name} {first_paragraph}" in listing
    assert "..." not in listing


@pytest.mark.parametrize("command", ["stats", "history", "export", "backup", "migrate", "run", "restore", "all"])
def test_help_works_whatever_env_file_holds(tmp_path, command):
    bad = tmp_path / ".env"
    bad.write_text("BOT_MAX_TOKENS=lots\n")
    shown = invoke("--env-file", str(bad), command, "--help")
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("Usage:")
    # Running it still reads the settings, and the bad one is a one-line error naming the variable.
    if command == "stats":
        ran = invoke("--env-file", str(bad), command)
        assert ran.exit_code == 1 and "BOT_MAX_TOKENS" in ran.output and ran.output.strip().count("\n") == 0


def test_version_is_the_projects():
    version = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
    shown = invoke("--version")
    assert shown.exit_code == 0 and shown.output.strip() == f"conversation-bot {version}"


def test_the_data_commands_take_db(tmp_path):
    path = logged(tmp_path / "elsewhere.db")
    env = {"CONVERSATION_LOG_DB": str(tmp_path / "not-this-one.db")}
    stats = invoke("--env-file", "/dev/null", "stats", "--db", str(path), env=env)
    assert stats.exit_code == 0 and f"Total conversations: {ROWS}" in stats.output, stats.output
    history = invoke("--env-file", "/dev/null", "history", "u1", "--db", str(path), env=env)
    assert history.exit_code == 0 and "q11" in history.output and "q10" not in history.output
    export = invoke("--env-file", "/dev/null", "export", "--format", "jsonl", "--db", str(path), env=env)
    assert export.exit_code == 0 and export.output.count('"user_message"') == ROWS
    copy = tmp_path / "copy.db"
    backup = invoke("--env-file", "/dev/null", "backup", str(copy), "--db", str(path), env=env)
    assert backup.exit_code == 0 and message_ids(copy) == message_ids(path)
    assert "Backing up" not in backup.output  # no terminal, no bar
    migrate = invoke("--env-file", "/dev/null", "migrate", "--db", str(copy), env=env)
    assert migrate.exit_code == 0 and f"{copy} is up to date" in migrate.output
    assert not (tmp_path / "not-this-one.db").exists()


def test_stats_asks_commanddata_as_the_commands_do(tmp_path, monkeypatch):
    path = logged(tmp_path / "log.db")
    scopes = []
    original = CommandData.stats

    async def counted(self, scope):
        scopes.append(scope)
        return await original(self, scope)

    monkeypatch.setattr(CommandData, "stats", counted)
    shown = invoke(
        "--env-file", "/dev/null", "stats", env={"CONVERSATION_LOG_DB": str(path), "BOT_RETENTION_DAYS": "30"}
    )
    assert shown.exit_code == 0, shown.output
    assert scopes == [Scope.everything()]
    assert f"Total conversations: {ROWS}" in shown.output and "30" in shown.output


def in_terminal(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """`python -m bot ARGS` on a pseudo-terminal, as a person at a shell runs it; everything it drew."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", TERMINAL_ROWS, TERMINAL_COLUMNS, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "--env-file", os.devnull, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=PROJECT,
        env={**env, "TERM": "xterm-256color"},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(60), b"".join(chunks).decode(errors="replace")


def test_backup_shows_a_progress_bar_on_a_terminal(tmp_path):
    path = logged(tmp_path / "conversation_logs.db")
    target = tmp_path / "backup.db"
    code, drawn = in_terminal("backup", str(target), env=clean_env(tmp_path, CONVERSATION_LOG_DB=str(path)))
    assert code == 0, drawn
    assert "Backing up" in drawn and "━" in drawn, drawn  # rich's bar
    assert f"{target.stat().st_size / 1000:.1f}/{target.stat().st_size / 1000:.1f} kB" in drawn, drawn
    assert message_ids(target) == message_ids(path)


def test_restore_shows_a_progress_bar_on_a_terminal(tmp_path):
    settings = replicated_settings(tmp_path, f"file://{tmp_path}/replica")
    logged(settings.log_db)
    Memory(settings.memory_db).open().close()  # Litestream replicates both files
    config = replication.write_config(settings)
    subprocess.run(
        [replication.litestream_binary(), "replicate", "-once", "-config", str(config)], check=True, capture_output=True
    )
    target = tmp_path / "restored.db"
    env = clean_env(
        tmp_path,
        LITESTREAM_REPLICA_URL=settings.replica.url,
        CONVERSATION_LOG_DB=str(settings.log_db),
        BOT_MEMORY_DB=str(settings.memory_db),
    )
    code, drawn = in_terminal("restore", str(target), env=env)
    assert code == 0, drawn
    assert "Restoring conversation_logs.db" in drawn and "━" in drawn, drawn
    assert f"{ROWS} conversations" in drawn
    assert message_ids(target) == message_ids(settings.log_db)


def test_health_checks_that_the_web_answers_and_the_worker_beats(tmp_path):
    """The image's HEALTHCHECK (issue 22, point 2): both processes, each named when it fails."""
    site = tmp_path / "site" / "-"
    site.mkdir(parents=True)
    (site / "login").write_text("the login page")
    heartbeat = tmp_path / "worker.heartbeat"
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=site.parent))
    env = {"PORT": str(web.server_port), "BOT_MEMORY_DB": str(tmp_path / "bot_memory.db")}

    down = invoke("--env-file", "/dev/null", "health", env=env)
    assert down.exit_code == 1 and down.output.count("\n") == 1
    assert f"web: nothing answers on 127.0.0.1:{web.server_port}" in down.output
    assert f"worker: no heartbeat at {heartbeat}" in down.output

    serving = threading.Thread(target=web.serve_forever, daemon=True)
    serving.start()
    try:
        heartbeat.touch()
        assert invoke("--env-file", "/dev/null", "health", env=env).exit_code == 0
        stale = time.time() - HEARTBEAT_STALE_S - 10
        os.utime(heartbeat, (stale, stale))
        stuck = invoke("--env-file", "/dev/null", "health", env=env)
    finally:
        web.shutdown()
    assert stuck.exit_code == 1 and "web" not in stuck.output.replace("Error: worker", "")
    assert f"worker: last heartbeat {HEARTBEAT_STALE_S + 10:.0f} s ago" in stuck.output
