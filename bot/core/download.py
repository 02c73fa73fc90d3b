"""Downloading an attachment: only the allowed origins are fetched (Discord's CDN over https),
an expired signed link is refused before any request, no redirect is followed, and the size is
counted while reading, so a lying Content-Length or a gzip bomb stops at the limit.
"""

from __future__ import annotations

import logging
import time

import aiohttp
import yarl

DOWNLOAD_TIMEOUT_S = 30  # one attachment, connect to last byte
CHUNK_BYTES = 64 * 1024
REDIRECTS = range(300, 400)

log = logging.getLogger(__name__)


class DownloadError(Exception):
    """An attachment's bytes could not be fetched; the message says why, fit to show the user."""


async def download(url: str, origins: frozenset[str], limit: int) -> bytes:
    """The bytes at `url`, from one of `origins` only, following no redirect, at most `limit` bytes."""
    target = _allowed(url, origins)
    if _expired(target):
        raise DownloadError("its link has expired; please send it again")
    try:
        timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(target, allow_redirects=False) as response,
        ):
            return await _read(response, limit)
    except (TimeoutError, aiohttp.ClientError) as err:
        log.warning("download of %s failed: %r", url, err)
        raise DownloadError("it could not be downloaded") from None


def _allowed(url: str, origins: frozenset[str]) -> yarl.URL:
    try:
        target = yarl.URL(url)
        allowed = target.user is None and str(target.origin()) in origins
    except ValueError:  # relative, no scheme, a bad port or host
        allowed = False
    if not allowed:
        raise DownloadError("it is not on Discord's attachment CDN")
    return target


def _expired(url: yarl.URL) -> bool:
    """Discord's signed URLs carry their expiry as hex Unix seconds in `ex`; past it the CDN refuses."""
    try:
        return int(url.query.get("ex", ""), 16) <= time.time()
    except ValueError:  # unsigned: the CDN decides
        return False


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes:
    if response.status in REDIRECTS:
        raise DownloadError("the CDN sent it elsewhere (a redirect), and I only fetch from Discord's CDN")
    if response.status != 200:
        raise DownloadError(f"Discord's CDN no longer serves it (HTTP {response.status}); please send it again")
    too_big = DownloadError(
        f"it is larger than {limit / 2**20:g} MB" if limit >= 2**20 else f"it is larger than {limit // 1000} kB"
    )
    if (response.content_length or 0) > limit:
        raise too_big
    data = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):  # decompressed: a gzip bomb stops here too
        data += chunk
        if len(data) > limit:
            raise too_big
    return bytes(data)
