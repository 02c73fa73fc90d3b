"""The SQL the bot shares with Datasette: the canned queries in metadata.yml are its one definition."""

from __future__ import annotations

from pathlib import Path

import yaml

from .settings import ROOT

METADATA = ROOT / "metadata.yml"
DATABASE = "conversation_logs"


def canned_queries(path: Path = METADATA) -> dict[str, str]:
    """name -> SQL of every canned query of the conversation log."""
    metadata = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: query["sql"] for name, query in metadata["databases"][DATABASE]["queries"].items()}


_QUERIES = canned_queries()
STATS_SQL = _QUERIES["stats"]
MODELS_SQL = _QUERIES["models"]
HISTORY_SQL = _QUERIES["user_history"]
SERVER_STATS_SQL = _QUERIES["server_stats"]
SERVER_MODELS_SQL = _QUERIES["server_models"]
OWN_STATS_SQL = _QUERIES["own_stats"]
OWN_MODELS_SQL = _QUERIES["own_models"]
