"""Gateway rules of the loopback Discord that depend on how the bot connected: sharding and the
Message Content intent (see field-notes.md, "Message Content intent")."""

from __future__ import annotations

MESSAGE_CONTENT_INTENT = 1 << 15
DISALLOWED_INTENTS = 4014  # close code: a privileged intent the developer portal has not enabled
SHARD_ID_SHIFT = 22  # a guild's shard is (guild_id >> 22) % num_shards
# What a client without the intent gets in place of a message's user content (gateway.mdx, "Message
# Content Intent"): empty values, and no poll at all (the field is optional).
CONTENT_FIELDS = {"content": "", "embeds": [], "attachments": [], "components": []}
WITHHELD_WHEN_ABSENT = ("poll",)


def shard_of(guild_id: str | None, shard_count: int) -> int:
    """The shard that carries a guild's events; DMs go to shard 0."""
    return 0 if guild_id is None else (int(guild_id) >> SHARD_ID_SHIFT) % shard_count


def as_received(data: dict, intents: int, bot_id: str) -> dict:
    """A MESSAGE_CREATE as a client with `intents` receives it. Without Message Content, Discord keeps
    the content of exactly four kinds (gateway.mdx): the app's own messages, DMs, messages that mention
    the app (a reply that pings it lists it in `mentions`), and context-menu targets (those come in an
    interaction, never here). A reply to the app with its ping switched off is none of them."""
    if intents & MESSAGE_CONTENT_INTENT or "guild_id" not in data or data["author"]["id"] == bot_id:
        return data
    if any(user["id"] == bot_id for user in data.get("mentions", [])):
        return data
    withheld = {key: value for key, value in data.items() if key not in WITHHELD_WHEN_ABSENT}
    return {**withheld, **CONTENT_FIELDS}
