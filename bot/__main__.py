"""`python -m bot` runs the Discord bot; `python -m bot console` chats in the terminal (bot/cli/ holds the commands)."""

from __future__ import annotations

import sys

from bot.cli import cli as cli  # re-exported: the tests drive the group from here
from bot.cli import main as main  # pyproject's entry point: bot.__main__:main

if __name__ == "__main__":
    sys.exit(main())
