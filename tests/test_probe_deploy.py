"""A probe of the Docker entrypoint (deploy/docker-entrypoint.sh) on a volume the original image, which ran
as root, left behind: its directory handed over, its database files still root's."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support import PROJECT

SCRIPT = str(PROJECT / "deploy" / "docker-entrypoint.sh")
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", SCRIPT]
# The log's own file and the two SQLite keeps beside it while it is open in WAL mode.
LOG_FILES = ("conversation_logs.db", "conversation_logs.db-wal", "conversation_logs.db-shm")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the script as another user")


def environment(volume: Path, path: str) -> dict[str, str]:
    return {
        "PATH": path,
        "CONVERSATION_LOG_DB": f"{volume}/conversation_logs.db",
        "BOT_MEMORY_DB": f"{volume}/bot_memory.db",
    }


def old_volume(top: str) -> Path:
    """A volume whose directory anyone may write, holding the log's files as a root-run image made them."""
    Path(top).chmod(0o755)
    volume = Path(top) / "volume"
    volume.mkdir()
    volume.chmod(0o777)
    for name in LOG_FILES:
        (volume / name).write_bytes(b"")
        (volume / name).chmod(0o644)
    return volume


def test_a_root_owned_log_file_is_refused_in_one_line_naming_it():
    # In /tmp itself: pytest's tmp_path sits under a directory only root may enter.
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        volume = old_volume(top)
        env = environment(volume, os.environ["PATH"])
        refused = subprocess.run([*AS_NOBODY, "echo", "started"], env=env, capture_output=True, text=True)
        # Before: "started", and SQLite failed later ("attempt to write a readonly database").
        assert refused.returncode == 1 and refused.stdout == "", refused.stdout
        assert refused.stderr.count("\n") == 1 and f"{volume}/conversation_logs.db is not writable by" in refused.stderr


def test_started_as_root_it_hands_over_the_log_files_too(tmp_path):
    # No `bot` user on this machine: chown and setpriv are replaced by scripts that write down their arguments.
    shims, calls = tmp_path / "bin", tmp_path / "calls"
    shims.mkdir()
    for tool in ("chown", "setpriv"):
        (shims / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\n')
        (shims / tool).chmod(0o755)
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        volume = old_volume(top)
        env = environment(volume, f"{shims}:{os.environ['PATH']}")
        started = subprocess.run(["sh", SCRIPT, "echo", "started"], env=env, capture_output=True, text=True)
        assert started.returncode == 0, started.stderr
        handed = [
            line.split()[-1]
            for line in calls.read_text().splitlines()
            if line.startswith("chown ") and "bot:bot" in line
        ]
        # Before: only the directory, so `bot` could not write the log the root-run image had made.
        assert {str(volume / name) for name in LOG_FILES} <= set(handed), handed
        assert str(volume) in handed


def test_started_as_root_it_follows_no_link_the_volume_holds(tmp_path):
    # `bot` owns the volume, so it can leave conversation_logs.db-wal as a link to a file of root's; a start
    # with --user root then chowned the link's target to `bot`. chown here is the real one, with `bot`
    # read as nobody (65534), the user this machine has.
    shims = tmp_path / "bin"
    shims.mkdir()
    real_chown = subprocess.run(["sh", "-c", "command -v chown"], capture_output=True, text=True).stdout.strip()
    (shims / "chown").write_text(f'#!/bin/sh\nexec {real_chown} $(echo "$*" | sed "s/bot:bot/65534:65534/")\n')
    (shims / "setpriv").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("chown", "setpriv"):
        (shims / tool).chmod(0o755)
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        volume = old_volume(top)
        roots = Path(top) / "roots-file"
        roots.write_text("root's own")
        (volume / "conversation_logs.db-wal").unlink()
        (volume / "conversation_logs.db-wal").symlink_to(roots)
        env = environment(volume, f"{shims}:{os.environ['PATH']}")
        started = subprocess.run(["sh", SCRIPT, "true"], env=env, capture_output=True, text=True)
        assert started.returncode == 0, started.stderr
        assert roots.stat().st_uid == 0
        assert (volume / "conversation_logs.db").stat().st_uid == 65534
