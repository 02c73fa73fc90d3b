"""Gateway rules of the loopback Discord that depend on how the bot connected: sharding and the
Message Content intent (see field-notes.md, "Message Content intent")."""

from __future__ import annotations

MESSAGE_CONTENT_INTENT = 1 << 15
DISALLOWED_INTENTS = 4014  # close code: a privileged intent the developer portal has not enabled
SHARD_ID_SHIFT = 22  # a guild's shard is (guild_id >> 22) % num_shards
CONTENT_FIELDS = {"content": "", "embeds": [], "attachments": [], "components": []}


def shard_of(guild_id: str | None, shard_count: int) -> int:
    """The shard that carries a guild's events; DMs go to shard 0."""
    return 0 if guild_id is None else (int(guild_id) >> SHARD_ID_SHIFT) % shard_count


def as_received(data: dict, intents: int, bot_id: str, bot_message_ids: set[str]) -> dict:
    """A MESSAGE_CREATE as a client with `intents` receives it: without Message Content, a server
    message arrives without its text unless it mentions the bot, replies to the bot or is the bot's."""
    if intents & MESSAGE_CONTENT_INTENT or "guild_id" not in data or data["author"]["id"] == bot_id:
        return data
    if any(user["id"] == bot_id for user in data.get("mentions", [])):
        return data
    reference = data.get("message_reference") or {}
    if str(reference.get("message_id")) in bot_message_ids:
        return data
    return {**data, **CONTENT_FIELDS}
