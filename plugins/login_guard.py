"""Pure helpers of the login (plugins/login.py): the throttle, the Basic header, the session cookie's payload.

No Datasette hooks here. Datasette loads this file as a plugin too, which is harmless.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import math
import secrets
import time
from collections import deque
from urllib.parse import urlsplit

from datasette.utils import baseconv
from datasette_auth_passwords.utils import verify_password

# Defaults of the metadata settings login_failures and login_window_seconds: ten guesses per
# address every five minutes is plenty for a person who mistyped, and 2,880 a day for a guesser.
LOGIN_FAILURES = 10
LOGIN_WINDOW_SECONDS = 300
# Default of session_seconds: a working day, after which the cookie is refused and the browser drops it.
SESSION_SECONDS = 8 * 3600
# One password hash (~95 ms of CPU) at a time, so guessing can take at most one core of the machine;
# a few more may wait their turn, and beyond that a check is refused at once (503) instead of queueing.
HASH_WORKERS = 1
HASHES_WAITING = 8
# The longest Basic header we decode: a 500-character password fits, megabytes of junk do not.
MAX_AUTHORIZATION_BYTES = 1024
# Addresses remembered by the throttle; beyond this the oldest are forgotten, so memory stays bounded.
MAX_TRACKED_ADDRESSES = 10_000
# An IPv6 user gets a whole /64, so the throttle counts the /64 (else each guess could use a new address).
IPV6_PREFIX = 64


def client_key(scope: dict, behind_proxy: bool) -> str:
    """The address to throttle. X-Forwarded-For is only believed behind a proxy, and then only its last
    entry, the one the proxy itself appended: a client can prepend anything it likes."""
    address = (scope.get("client") or ("unknown", 0))[0]
    if behind_proxy:
        forwarded = header(scope, b"x-forwarded-for")
        if forwarded:
            address = forwarded.decode("latin-1").split(",")[-1].strip()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def header(scope: dict, name: bytes) -> bytes | None:
    return next((value for key, value in scope.get("headers") or [] if key.lower() == name), None)


def is_https(scope: dict) -> bool:
    """Over HTTPS, directly or through the platform's proxy. Only used to add Secure to a cookie, which
    a client that lies about it only harms itself with."""
    forwarded = (header(scope, b"x-forwarded-proto") or b"").decode("latin-1").split(",")[0].strip().lower()
    return scope.get("scheme") == "https" or forwarded == "https"


def basic_credentials(authorization: bytes) -> tuple[str, str] | None:
    """(username, password) of a well-formed Basic header, else None."""
    scheme, _, encoded = authorization.partition(b" ")
    if scheme.lower() != b"basic" or len(authorization) > MAX_AUTHORIZATION_BYTES:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


class Throttle:
    """Failed logins per address in a sliding window. An attempt counts from the moment it starts (so a
    burst of parallel guesses cannot all get through before the first fails) and a success forgives."""

    def __init__(self, failures: int, window_seconds: float):
        self.failures, self.window = failures, window_seconds
        self.attempts: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Whole seconds until `key` may try again; 0 when it may now."""
        now = time.monotonic() if now is None else now
        recent = self.attempts.get(key)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if not recent or len(recent) < self.failures:
            return 0
        return max(1, math.ceil(recent[0] + self.window - now))

    def attempt(self, key: str, now: float | None = None) -> None:
        if key not in self.attempts and len(self.attempts) >= MAX_TRACKED_ADDRESSES:
            self.attempts.pop(next(iter(self.attempts)))
        self.attempts.setdefault(key, deque()).append(time.monotonic() if now is None else now)

    def forgive(self, key: str) -> None:
        self.attempts.pop(key, None)


class Busy(Exception):
    """Too many password checks are waiting: the caller answers 503 rather than queue without end."""


class PasswordChecks:
    """Password hashes in worker threads, HASH_WORKERS at a time, so the request loop keeps serving."""

    def __init__(self, workers: int = HASH_WORKERS, waiting: int = HASHES_WAITING):
        self.slots = asyncio.Semaphore(workers)
        self.limit = workers + waiting
        self.pending = 0

    async def run(self, function, *args):
        if self.pending >= self.limit:
            raise Busy()
        self.pending += 1
        try:
            async with self.slots:
                return await asyncio.to_thread(function, *args)
        finally:
            self.pending -= 1

    async def verify(self, accounts: dict[str, str], username: str, password: str) -> bool:
        password_hash = accounts.get(username)
        return bool(password_hash) and await self.run(verify_password, password, password_hash)


def accounts_of(config: dict) -> dict[str, str]:
    """{username: hash} as datasette-auth-passwords reads them (`<name>_password_hash`)."""
    return {
        key.removesuffix("_password_hash"): value
        for key, value in config.items()
        if key.endswith("_password_hash") and value
    }


def fingerprint(accounts: dict[str, str]) -> str:
    """Changes whenever any password hash does, so a cookie signed before a password change is refused."""
    return hashlib.sha256("\n".join(sorted(accounts.values())).encode()).hexdigest()[:16]


def new_session(actor: dict, accounts: dict[str, str], lifetime: int) -> dict:
    """The ds_actor payload: Datasette's own {"a", "e"} (it checks the expiry too) plus our session id
    "s" (for logout) and password fingerprint "p"."""
    expires = baseconv.base62.encode(int(time.time()) + lifetime)
    return {"a": actor, "e": expires, "s": secrets.token_urlsafe(12), "p": fingerprint(accounts)}


def session_is_valid(payload, accounts: dict[str, str], revoked: dict[str, float]) -> bool:
    if not isinstance(payload, dict) or not {"a", "e", "s", "p"} <= payload.keys():
        return False  # a cookie of another shape: signed before this plugin, without expiry or session
    try:
        expires = baseconv.base62.decode(str(payload["e"]))
    except (ValueError, KeyError):
        return False
    return time.time() < expires and payload["p"] == fingerprint(accounts) and payload["s"] not in revoked


def revoke(revoked: dict[str, float], session_id: str, lifetime: int) -> None:
    """Remember a logged-out session until its cookie would have expired anyway."""
    now = time.time()
    for old in [sid for sid, until in revoked.items() if until < now]:
        del revoked[old]
    revoked[session_id] = now + lifetime


# The longest `next` kept: its redirect's headers (the cookie too, ~300 bytes) stay under the 4 KB a proxy in
# front reads by default (nginx's proxy_buffer_size); 100 KB used to come back whole as the Location.
MAX_NEXT_CHARS = 2048
DATA_SUFFIXES = (".json", ".csv")  # Datasette's data formats: a script or a download, never a person reading


def wants_data(path: str) -> bool:
    return path.lower().endswith(DATA_SUFFIXES)


def same_site_path(target: str | None) -> str:
    """`target` when it is a path on this site, else "/". Browsers read `//host`, `/\\host` and `\\host` as
    another host and drop tabs and newlines inside URLs, so only a path starting with one "/" and holding no
    backslash or control character is kept, up to MAX_NEXT_CHARS; `javascript:` and `https://...` have a scheme
    and are refused."""
    if not target or not target.startswith("/") or target.startswith("//") or len(target) > MAX_NEXT_CHARS:
        return "/"
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"
