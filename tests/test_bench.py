"""The benchmark suite at --quick size, so it never rots. It checks that every figure is reported,
never how fast anything was: speed is measured by `python -m bench`, not by tests."""

from __future__ import annotations

import subprocess
import sys

from tests.web import PROJECT

SECTIONS = ["| stats |", "| history |", "| startup |", "| size |", "| export |", "| datasette |", "| write |",
            "| wal |"]


def test_quick_benchmark_reports_every_section(tmp_path):
    output = tmp_path / "quick.md"
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--output", str(output)], cwd=PROJECT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = output.read_text()
    for section in SECTIONS:
        assert section in table
    assert "raw executemany" in table and "sqlite3 CLI" in table and "primary-key order" in table
