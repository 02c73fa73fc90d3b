"""Registering the slash commands with Discord only when their definitions changed.

Syncing is a bulk overwrite (PUT) that Discord rate-limits, so every start-up would spend it for
nothing. The hash of what was last registered, per application and place (global or one server),
is kept in a small JSON file beside the memory database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

log = logging.getLogger(__name__)

GLOBAL = "global"


def payload_hash(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None) -> str:
    payload = [command.to_dict(tree) for command in tree.get_commands(guild=guild)]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def refused_fields(errors: dict[str, Any], names: list[str], where: tuple[str, ...] = ()) -> list[str]:
    """Discord's 50035 `errors` object as "/export description: Must be between 1 and 100 in length."
    entries; the top-level key is the command's index in the bulk overwrite, named here."""
    found = []
    for key, value in errors.items():
        if key == "_errors":
            reasons = " ".join(e.get("message", "") for e in value)
            found.append(f"{' '.join(where)}: {reasons}" if where else reasons)
        elif isinstance(value, dict):
            label = f"/{names[int(key)]}" if not where and key.isdigit() and int(key) < len(names) else key
            found.extend(refused_fields(value, names, (*where, label)))
    return found


def refusal_line(err: discord.HTTPException, commands: list[Any]) -> str:
    """One line saying what Discord refused: the fields its errors object names, else its message."""
    # discord.py keeps Discord's raw `errors` object only as `_errors` (its message spreads it over lines).
    fields = refused_fields(getattr(err, "_errors", None) or {}, [c.name for c in commands])
    head = f"{err.status} {err.code}"
    return f"{head}: {'; '.join(fields)}" if fields else f"{head}: {err.text}".replace("\n", " ")


def read_hashes(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:  # unreadable or damaged: sync again, which rewrites it
        log.warning("%s is unreadable (%s): the slash commands are registered again", path, err)
        return {}
    return data if isinstance(data, dict) else {}


async def sync_if_changed(
    tree: app_commands.CommandTree, application_id: int, path: Path, guild_id: int | None
) -> bool:
    """Register the commands (globally, or in `guild_id` only: instant, for testing) unless the same
    definitions were registered last time; returns whether it synced."""
    guild = discord.Object(id=guild_id) if guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    key = f"{application_id}:{guild_id or GLOBAL}"
    digest = payload_hash(tree, guild)
    hashes = read_hashes(path)
    if hashes.get(key) == digest:
        log.info("slash commands unchanged since the last sync (%s): not registering them again", key)
        return False
    try:
        await tree.sync(guild=guild)
    except discord.HTTPException as err:  # the commands registered before still work; retried next start
        log.error("slash commands not registered (%s): %s", key, refusal_line(err, tree.get_commands(guild=guild)))
        return False
    hashes[key] = digest
    try:
        await asyncio.to_thread(path.write_text, json.dumps(hashes, indent=1))
    except OSError as err:
        log.warning("cannot write %s (%s): the slash commands will be registered again next start", path, err)
    log.info("registered %d slash commands (%s)", len(tree.get_commands(guild=guild)), key)
    return True
