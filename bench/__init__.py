"""Benchmarks against raw SQLite, measured in the same run: `python -m bench --rows 1000000`."""
