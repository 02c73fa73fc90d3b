"""The SQL the bot shares with Datasette: the canned queries in metadata.yml are its one definition.

metadata.yml is read on first use, so importing the store parses no YAML.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

# A link to the checkout's metadata.yml: the store needs no settings to find it, and an installed
# package (pip install .) carries the file.
METADATA = Path(__file__).with_name("metadata.yml")
DATABASE = "conversation_logs"


def canned_queries(path: Path = METADATA) -> dict[str, str]:
    """name -> SQL of every canned query of the conversation log."""
    metadata = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: query["sql"] for name, query in metadata["databases"][DATABASE]["queries"].items()}


@cache
def sql(name: str) -> str:
    """The SQL of one canned query of metadata.yml, such as 'stats' or 'user_history'."""
    return canned_queries()[name]
