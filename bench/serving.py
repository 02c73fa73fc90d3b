"""A real `datasette serve` of a benchmark's log, for the sections that time pages over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_POLLS = 300  # a million-row log takes a few seconds to open
POLL_S = 0.1


@contextmanager
def served(path: Path, port: int) -> Iterator[str]:
    """Serve `path` as the Procfile does, on 127.0.0.1:`port`; yields the database's base URL."""
    from tests.support.web import serve_args

    server = subprocess.Popen(
        [sys.executable, "-m", "datasette", "serve", *serve_args(path, port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/conversation_logs"
    try:
        for _ in range(START_POLLS):
            try:
                urllib.request.urlopen(base + ".json", timeout=5)
                break
            except OSError:
                time.sleep(POLL_S)
        yield base
    finally:
        server.terminate()
        server.wait()
