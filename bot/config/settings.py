"""All configuration, read from the environment (and `.env`) in one place."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import yarl
from dotenv import dotenv_values

from bot.config.replica import ReplicaConfigError, ReplicaSettings, replica_settings

CHECKOUT = Path(__file__).resolve().parents[2]  # bot/config/settings.py -> the checkout
# Where the default files go: the checkout; once installed (pip, pipx), the directory it runs in, not site-packages.
ROOT = CHECKOUT if (CHECKOUT / "pyproject.toml").is_file() else Path.cwd()
DEFAULT_MODEL = "claude-haiku-4-5"
# Discord serves attachments from these two hosts only; an attachment URL anywhere else is not fetched.
DISCORD_CDN_ORIGINS = frozenset({"https://cdn.discordapp.com", "https://media.discordapp.net"})
DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly, concise assistant in a Discord community. Answer in plain Discord markdown."
)


N = TypeVar("N", int, float)
# The memory's window grows to this multiple of BOT_MEMORY_TURNS before it trims back (bot/core/memory.py):
# one cache rewrite every 11 turns instead of one a turn, for about 1.5x the turns sent on average.
MEMORY_GROWTH = 2


class ConfigError(ValueError):
    """A setting is present but unusable; the message names the variable."""


def _ids(env: Mapping[str, str], name: str) -> frozenset[int]:
    raw = env.get(name, "")
    try:
        return frozenset(int(part) for part in raw.replace(",", " ").split())
    except ValueError:
        raise ConfigError(f"{name} must be a comma-separated list of numeric Discord ids, got {raw!r}") from None


def _one_id(env: Mapping[str, str], name: str) -> int | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ConfigError(f"{name} must be one numeric Discord server id, got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Shards:
    """BOT_SHARDS and BOT_SHARD_IDS: how many gateway shards, and which of them this process runs."""

    count: int | None  # None: as many as Discord recommends (BOT_SHARDS=auto)
    ids: tuple[int, ...] | None = None  # None: all of them


def _shards(env: Mapping[str, str]) -> Shards | None:
    raw = (env.get("BOT_SHARDS") or "").strip().lower()
    ids = tuple(sorted(_ids(env, "BOT_SHARD_IDS"))) or None
    if not raw:
        if ids:
            raise ConfigError("BOT_SHARD_IDS needs BOT_SHARDS, the total number of shards")
        return None
    if raw == "auto":
        if ids:
            raise ConfigError("BOT_SHARD_IDS needs a number in BOT_SHARDS, not auto")
        return Shards(None)
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"BOT_SHARDS must be auto or a number of shards (1 or more), got {raw!r}")
    if ids and max(ids) >= int(raw):
        raise ConfigError(f"BOT_SHARD_IDS must be below BOT_SHARDS ({raw}), got {ids}")
    return Shards(int(raw), ids)


def _number(env: Mapping[str, str], name: str, default: N, kind: Callable[[str], N]) -> N:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


def _rate(env: Mapping[str, str], name: str, default: tuple[int, float]) -> tuple[int, float]:
    """`COUNT/SECONDS`, e.g. 10/60; 0 turns the limit off."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if raw == "0":
        return (0, 0.0)
    count, _, seconds = raw.partition("/")
    try:
        return int(count), float(seconds)
    except ValueError:
        raise ConfigError(f"{name} must look like 10/60 (messages per seconds) or 0, got {raw!r}") from None


def _replica(env: Mapping[str, str]) -> ReplicaSettings | None:
    try:
        return replica_settings(env, _number)
    except ReplicaConfigError as err:
        raise ConfigError(str(err)) from None


def _cdn_origins(env: Mapping[str, str]) -> frozenset[str]:
    """Where attachments may be downloaded from: Discord's CDN over https, or the one origin of
    DISCORD_CDN_BASE (the tests' loopback CDN), which then replaces them."""
    raw = (env.get("DISCORD_CDN_BASE") or "").strip()
    if not raw:
        return DISCORD_CDN_ORIGINS
    url = yarl.URL(raw)
    has_more = url.user or url.path not in ("", "/") or url.query_string or url.fragment
    if url.scheme not in ("http", "https") or not url.host or has_more:
        raise ConfigError(f"DISCORD_CDN_BASE must be an origin like http://127.0.0.1:8080 (no path), got {raw!r}")
    return frozenset({str(url.origin())})


def _memory_max_turns(env: Mapping[str, str], turns: int) -> int:
    """BOT_MEMORY_MAX_TURNS: MEMORY_GROWTH times BOT_MEMORY_TURNS unless set, and never below it."""
    most = _number(env, "BOT_MEMORY_MAX_TURNS", turns * MEMORY_GROWTH, int)
    if most < turns:
        raise ConfigError(f"BOT_MEMORY_MAX_TURNS must be at least BOT_MEMORY_TURNS ({turns}), got {most}")
    return most


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    return Path(env[name]).expanduser() if env.get(name) else default


@dataclass(frozen=True)
class Settings:
    discord_token: str | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    message_content: bool = True  # ask for the privileged Message Content intent (DISCORD_MESSAGE_CONTENT)
    command_guild_id: int | None = None  # register the slash commands in this server only (instant)
    shards: Shards | None = None  # None: one connection, no sharding
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    model: str = DEFAULT_MODEL
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = 1024
    api_timeout: float = 20.0
    api_max_retries: int = 1
    log_db: Path = ROOT / "conversation_logs.db"
    memory_db: Path = ROOT / "bot_memory.db"
    command_prefix: str = "!"
    owner_ids: frozenset[int] = field(default_factory=frozenset)  # BOT_ADMIN_IDS: the bot's owners
    chat_channel_ids: frozenset[int] = field(default_factory=frozenset)
    memory_turns: int = 10  # exchanges always sent as context, when the thread has them
    memory_max_turns: int = 10 * MEMORY_GROWTH  # the window grows to this, then trims back to memory_turns
    memory_ttl_minutes: float = 60.0
    export_max_parts: int = 10
    retention_days: float = 0.0
    redact: bool = False
    keep_attachments: bool = False  # keep the bytes of files sent to Claude, once per SHA-256 (bot/store/blobs.py)
    rate_limit: tuple[int, float] = (10, 60.0)
    confirm_seconds: float = 60.0
    privacy_url: str | None = None
    datasette_url: str | None = None
    log_level: str = "INFO"
    replica: ReplicaSettings | None = None  # LITESTREAM_REPLICA_URL and its companions
    port: int = 8000  # the web process's (Procfile's $PORT), for `python -m bot all`
    model_prices: Path | None = None  # a CSV of dated prices added to model_prices at start-up
    cdn_origins: frozenset[str] = DISCORD_CDN_ORIGINS  # where attachments are downloaded from (DISCORD_CDN_BASE)
    # Every variable these settings were read from, `.env`'s under the real environment's: `python -m bot all`
    # hands them whole to its children, so Datasette sees `.env`'s DATASETTE_PASSWORD_HASH too. Never printed.
    environment: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def command_hash_file(self) -> Path:
        """Where the hash of the last registered slash commands is kept: beside the memory database."""
        return self.memory_db.parent / "slash_commands.json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, dotenv_path: Path | str | None = ".env") -> Settings:
        """Read settings; real environment variables win over the `.env` file."""
        env = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None} if dotenv_path else {}
        env.update(os.environ if environ is None else environ)
        memory_turns = _number(env, "BOT_MEMORY_TURNS", 10, int)
        return cls(
            discord_token=env.get("DISCORD_TOKEN") or None,
            discord_api_base=env.get("DISCORD_API_BASE") or None,
            discord_gateway_url=env.get("DISCORD_GATEWAY_URL") or None,
            message_content=_flag(env, "DISCORD_MESSAGE_CONTENT", True),
            command_guild_id=_one_id(env, "DISCORD_COMMAND_GUILD_ID"),
            shards=_shards(env),
            anthropic_api_key=env.get("ANTHROPIC_API_KEY") or None,
            anthropic_base_url=env.get("ANTHROPIC_BASE_URL") or None,
            model=env.get("BOT_MODEL") or DEFAULT_MODEL,
            system_prompt=env.get("BOT_SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
            max_tokens=_number(env, "BOT_MAX_TOKENS", 1024, int),
            api_timeout=_number(env, "BOT_API_TIMEOUT", 20.0, float),
            api_max_retries=_number(env, "BOT_API_MAX_RETRIES", 1, int),
            log_db=_path(env, "CONVERSATION_LOG_DB", ROOT / "conversation_logs.db"),
            memory_db=_path(env, "BOT_MEMORY_DB", ROOT / "bot_memory.db"),
            command_prefix=env.get("BOT_PREFIX") or "!",
            owner_ids=_ids(env, "BOT_ADMIN_IDS"),
            chat_channel_ids=_ids(env, "BOT_CHAT_CHANNELS"),
            memory_turns=memory_turns,
            memory_max_turns=_memory_max_turns(env, memory_turns),
            memory_ttl_minutes=_number(env, "BOT_MEMORY_TTL_MINUTES", 60.0, float),
            export_max_parts=max(1, _number(env, "BOT_EXPORT_MAX_PARTS", 10, int)),
            retention_days=_number(env, "BOT_RETENTION_DAYS", 0.0, float),
            redact=_flag(env, "BOT_REDACT"),
            keep_attachments=_flag(env, "BOT_KEEP_ATTACHMENTS"),
            rate_limit=_rate(env, "BOT_RATE_LIMIT", (10, 60.0)),
            confirm_seconds=_number(env, "BOT_CONFIRM_SECONDS", 60.0, float),
            privacy_url=env.get("BOT_PRIVACY_URL") or None,
            datasette_url=(env.get("DATASETTE_URL") or "").rstrip("/") or None,
            log_level=(env.get("BOT_LOG_LEVEL") or "INFO").upper(),
            replica=_replica(env),
            port=_number(env, "PORT", 8000, int),
            model_prices=Path(env["BOT_MODEL_PRICES"]).expanduser() if env.get("BOT_MODEL_PRICES") else None,
            cdn_origins=_cdn_origins(env),
            environment=env,
        )
