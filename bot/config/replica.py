"""The Litestream replica's settings, parsed from the mapping `Settings.from_env()` reads.

Kept apart from settings.py so replication's dozen variables do not crowd the bot's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

SCHEMES = ("s3", "file", "sftp")
DEFAULT_SYNC_SECONDS = 1.0  # Litestream's own default sync-interval
DEFAULT_RETENTION_HOURS = 24.0  # Litestream's own default snapshot retention
DEFAULT_LAG_ALARM_SECONDS = 60.0
# settings.py's parser of a number variable: (env, name, default, float) -> the value, or ConfigError.
NumberParser = Callable[[Mapping[str, str], str, float, Callable[[str], float]], float]


class ReplicaConfigError(ValueError):
    """A replica setting is unusable; the message names the variable."""


@dataclass(frozen=True)
class ReplicaSettings:
    """Where the log is replicated, how often, for how long history is kept, and with which credentials.

    Secrets are passed to Litestream through its environment, never written to its config file.
    """

    url: str
    sync_seconds: float = DEFAULT_SYNC_SECONDS
    retention_hours: float = DEFAULT_RETENTION_HOURS
    lag_alarm_seconds: float = DEFAULT_LAG_ALARM_SECONDS
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None
    endpoint: str | None = None
    sftp_password: str | None = None
    sftp_key_path: str | None = None
    sftp_host_key: str | None = None

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    def url_for(self, name: str) -> str:
        """Each database has its own replica (Litestream 0.5 allows one per database): URL/NAME."""
        return f"{self.url.rstrip('/')}/{name}"

    def secret_env(self) -> dict[str, str]:
        """Variables the generated config refers to as ${NAME}; only those that are set."""
        values = {
            "LITESTREAM_ACCESS_KEY_ID": self.access_key_id,
            "LITESTREAM_SECRET_ACCESS_KEY": self.secret_access_key,
            "BOT_REPLICA_SFTP_PASSWORD": self.sftp_password,
        }
        return {name: value for name, value in values.items() if value}


def replica_settings(env: Mapping[str, str], number: NumberParser) -> ReplicaSettings | None:
    """None when LITESTREAM_REPLICA_URL is unset: replication off. `number` is settings.py's parser."""
    url = (env.get("LITESTREAM_REPLICA_URL") or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ReplicaConfigError(
            f"LITESTREAM_REPLICA_URL must start with {', '.join(s + '://' for s in SCHEMES)}; got {url!r}"
        )
    if parts.scheme == "file" and (parts.netloc or not parts.path.startswith("/")):
        raise ReplicaConfigError(f"LITESTREAM_REPLICA_URL must be file:///absolute/path, got {url!r}")
    if parts.scheme in ("s3", "sftp") and not parts.hostname:
        raise ReplicaConfigError(f"LITESTREAM_REPLICA_URL names no bucket or host: {url!r}")
    if parts.scheme == "sftp" and not parts.username:
        raise ReplicaConfigError(f"LITESTREAM_REPLICA_URL must name the sftp user (sftp://USER@HOST/path), got {url!r}")
    if parts.password:
        raise ReplicaConfigError("LITESTREAM_REPLICA_URL must not hold a password: set LITESTREAM_SFTP_PASSWORD")
    sync_seconds = number(env, "LITESTREAM_SYNC_INTERVAL", DEFAULT_SYNC_SECONDS, float)
    retention_hours = number(env, "LITESTREAM_RETENTION_HOURS", DEFAULT_RETENTION_HOURS, float)
    if not sync_seconds or not retention_hours:
        raise ReplicaConfigError("LITESTREAM_SYNC_INTERVAL and LITESTREAM_RETENTION_HOURS must be above 0")
    return ReplicaSettings(
        url=url,
        sync_seconds=sync_seconds,
        retention_hours=retention_hours,
        lag_alarm_seconds=number(env, "LITESTREAM_LAG_ALARM_SECONDS", DEFAULT_LAG_ALARM_SECONDS, float),
        access_key_id=env.get("LITESTREAM_ACCESS_KEY_ID") or env.get("AWS_ACCESS_KEY_ID") or None,
        secret_access_key=env.get("LITESTREAM_SECRET_ACCESS_KEY") or env.get("AWS_SECRET_ACCESS_KEY") or None,
        region=env.get("LITESTREAM_REGION") or env.get("AWS_REGION") or None,
        endpoint=env.get("LITESTREAM_ENDPOINT") or None,
        sftp_password=env.get("LITESTREAM_SFTP_PASSWORD") or None,
        sftp_key_path=env.get("LITESTREAM_SFTP_KEY_PATH") or None,
        sftp_host_key=env.get("LITESTREAM_SFTP_HOST_KEY") or None,
    )
