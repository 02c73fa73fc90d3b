"""`python -m bot export` against the sqlite3 CLI: seconds and peak memory, by GNU time.

Which install runs the export matters to its memory: sqlite-utils imports pandas and numpy whenever they
are installed, and the dev install has them (through `datasets`, requirements-dev.lock): the same 1M-row
CSV export peaked at 143 MB there and at 62 MB in a runtime-only install (2026-11-30). So the export runs
under `--runtime-python` (a runtime-only install's interpreter, as `make console` makes) when given, and
each figure names the install it measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import ROOT
from bench.figures import Figure

MEMORY_TARGET_MB = 100


def run_measured(command: list[str], output: Path) -> tuple[float, float]:
    """(seconds, peak MB) of a command writing to `output`, by GNU time."""
    with open(output, "wb") as out:
        result = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", *command], stdout=out, stderr=subprocess.PIPE, cwd=ROOT, check=True
        )
    seconds, kilobytes = result.stderr.decode().strip().splitlines()[-1].split()
    return float(seconds), int(kilobytes) / 1024


def install_of(python: str) -> str:
    """How a figure names the install it measured: by whether pandas (which sqlite-utils imports) is there."""
    probe = [python, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('pandas') is None)"]
    has_pandas = subprocess.run(probe, check=False).returncode == 0
    return "dev install, pandas loaded" if has_pandas else "runtime install"


def exports(path: Path, work: Path, python: str = sys.executable) -> list[Figure]:
    cli, _ = run_measured(
        ["sqlite3", "-csv", "-header", str(path), "select * from conversations order by id"], work / "cli.csv"
    )
    env_cmd = [python, "-m", "bot", "--env-file", os.devnull]
    install = install_of(python)
    os.environ["CONVERSATION_LOG_DB"] = str(path)
    ours, peak = run_measured([*env_cmd, "export", "--include-fallback"], work / "ours.csv")
    packed, packed_peak = run_measured(
        [*env_cmd, "export", "--include-fallback", "-o", str(work / "o.csv.gz")], work / "none"
    )
    chat, chat_peak = run_measured([*env_cmd, "export", "--format", "chat-jsonl"], work / "chat.jsonl")
    return [
        Figure("export", "full CSV, python -m bot export", ours, "s", "sqlite3 CLI", cli, "≤ 2x", ours <= 2 * cli),
        memory_figure(f"peak memory of that export ({install})", peak),
        Figure("export", "full CSV, gzip", packed, "s", "sqlite3 CLI", cli),
        Figure("export", "full chat-jsonl (threads rebuilt)", chat, "s", "sqlite3 CLI", cli),
        memory_figure(f"peak memory, gzip / chat-jsonl ({install})", max(packed_peak, chat_peak)),
    ]


def memory_figure(what: str, mb: float) -> Figure:
    return Figure("export", what, mb, "MB", target=f"≤ {MEMORY_TARGET_MB} MB", met=mb <= MEMORY_TARGET_MB)
