"""`python -m bot export` against the sqlite3 CLI: seconds and peak memory, by GNU time."""

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


def exports(path: Path, work: Path) -> list[Figure]:
    cli, _ = run_measured(
        ["sqlite3", "-csv", "-header", str(path), "select * from conversations order by id"], work / "cli.csv"
    )
    env_cmd = [sys.executable, "-m", "bot", "--env-file", os.devnull]
    os.environ["CONVERSATION_LOG_DB"] = str(path)
    ours, peak = run_measured([*env_cmd, "export", "--include-fallback"], work / "ours.csv")
    packed, packed_peak = run_measured(
        [*env_cmd, "export", "--include-fallback", "-o", str(work / "o.csv.gz")], work / "none"
    )
    chat, chat_peak = run_measured([*env_cmd, "export", "--format", "chat-jsonl"], work / "chat.jsonl")
    return [
        Figure("export", "full CSV, python -m bot export", ours, "s", "sqlite3 CLI", cli, "≤ 2x", ours <= 2 * cli),
        memory_figure("peak memory of that export", peak),
        Figure("export", "full CSV, gzip", packed, "s", "sqlite3 CLI", cli),
        Figure("export", "full chat-jsonl (threads rebuilt)", chat, "s", "sqlite3 CLI", cli),
        memory_figure("peak memory, gzip / chat-jsonl", max(packed_peak, chat_peak)),
    ]


def memory_figure(what: str, mb: float) -> Figure:
    return Figure("export", what, mb, "MB", target=f"≤ {MEMORY_TARGET_MB} MB", met=mb <= MEMORY_TARGET_MB)
