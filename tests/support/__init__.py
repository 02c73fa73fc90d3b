"""Fakes and helpers shared by the test modules and bench/; nothing here is a test."""

from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent.parent
