"""Debian's headless Chromium, as the browser tests and bench/dashboard_shots.py launch it."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"


# Without the background-networking flags Chromium keeps dialling out of this closed network.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
