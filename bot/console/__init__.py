"""The terminal front end, at the Discord front end's height: the same service, read from a terminal.

session.py: the loop (commands or chat); commands.py: the commands; lines.py: reading and screening lines.
"""

from bot.console.session import Console

__all__ = ["Console"]
