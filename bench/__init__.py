"""Benchmarks against raw SQLite, measured in the same run: `python -m bench --rows 1000000`."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project: commands run here, reports are written here
