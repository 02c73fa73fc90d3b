"""Attachments are fetched as nothing but Discord's CDN (issue 20, 8; issue 18's signed URLs): only
its hosts over https, no redirect followed, the size counted while reading, an image's dimensions
read from its header before anything decodes it, and Discord's signed URLs that expire."""

from __future__ import annotations

import json
import struct
import time
import zlib

import aiohttp
import pytest
from aiohttp import web

from bot.config.settings import DISCORD_CDN_ORIGINS, ConfigError, Settings
from bot.core.attachments import MAX_IMAGE_BYTES, MAX_TEXT_BYTES
from bot.core.download import DownloadError, download
from tests.support.fake_discord import CDN_GONE
from tests.support.images import PNG
from tests.support.loopback import serve


def png_header(width: int, height: int) -> bytes:
    """A 69-byte PNG that declares `width` x `height` pixels: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def internal():
    """A service on 127.0.0.1 that is not the CDN (think cloud metadata): it counts who reached it."""
    hits = []

    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=PNG, headers={"Content-Type": "image/png"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", secret)
    runner, port = await serve(app)
    yield f"http://127.0.0.1:{port}/latest/meta-data.png", hits
    await runner.cleanup()


async def ask(harness, name: str, payload: dict) -> tuple[str, dict]:
    """alice sends `payload` with a question; the bot's reply and what the log kept of the file."""
    [reply] = await harness.say(harness.alice, "look", mention_bot=True, attachments=[payload])
    [row] = harness.rows()
    [kept] = json.loads(row["attachments"])
    assert kept["name"] == name and row["user_message"] == "look"  # the exchange itself is logged
    return reply.content, kept


def claude_saw_an_image(harness) -> bool:
    content = harness.claude.requests[-1]["messages"][-1]["content"]
    return isinstance(content, list) and any(block["type"] == "image" for block in content)


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.discordapp.com/attachments/1/2/a.png",  # not https
        "https://evil.example/attachments/1/2/a.png",
        "https://cdn.discordapp.com.evil.example/attachments/1/2/a.png",
        "https://cdn.discordapp.com@127.0.0.1/attachments/1/2/a.png",  # the host is 127.0.0.1
        "https://user@cdn.discordapp.com/attachments/1/2/a.png",
        "https://cdn.discordapp.com:8443/attachments/1/2/a.png",
        "",
        "//cdn.discordapp.com/attachments/1/2/a.png",
        "https://cdn.discordapp.com:99999/a.png",  # not URLs
    ],
)
async def test_production_fetches_only_discords_cdn_hosts_over_https(url):
    with pytest.raises(DownloadError, match="not on Discord's attachment CDN"):
        await download(url, DISCORD_CDN_ORIGINS, MAX_IMAGE_BYTES)


def test_discord_cdn_base_replaces_the_cdn_hosts_with_one_origin_and_a_bad_one_is_one_line():
    assert Settings.from_env({}, dotenv_path=None).cdn_origins == {
        "https://cdn.discordapp.com",
        "https://media.discordapp.net",
    }
    assert Settings.from_env({"DISCORD_CDN_BASE": "http://127.0.0.1:8080/"}, dotenv_path=None).cdn_origins == {
        "http://127.0.0.1:8080"
    }
    for bad in ("127.0.0.1:8080", "ftp://127.0.0.1", "http://127.0.0.1:8080/attachments", "http://u@127.0.0.1"):
        with pytest.raises(ConfigError, match=r"^DISCORD_CDN_BASE must be an origin"):
            Settings.from_env({"DISCORD_CDN_BASE": bad}, dotenv_path=None)


@pytest.mark.parametrize("host", ["cdn.discordapp.com", "media.discordapp.net"])
async def test_discords_cdn_hosts_pass_the_host_check(host):
    # An expired signature is refused after the host check and before any request: no network needed.
    expired = f"{int(time.time()) - 60:x}"
    with pytest.raises(DownloadError, match="its link has expired"):
        await download(
            f"https://{host}/attachments/1/2/a.png?ex={expired}&is=0&hm=00&", DISCORD_CDN_ORIGINS, MAX_IMAGE_BYTES
        )


async def test_an_attachment_url_off_the_cdn_is_never_fetched(harness, internal):
    url, hits = internal
    payload = {**harness.discord.attach("meta-data.png", PNG, "image/png"), "url": url, "proxy_url": url}
    text, kept = await ask(harness, "meta-data.png", payload)

    assert hits == [] and not claude_saw_an_image(harness)
    assert text.startswith("*(I couldn't look at meta-data.png: it is not on Discord's attachment CDN.)*")
    assert kept["status"] == "refused" and kept["url"] == url


async def test_a_redirect_off_the_cdn_is_not_followed(harness, internal):
    url, hits = internal
    text, kept = await ask(harness, "cat.png", harness.discord.attach("cat.png", PNG, "image/png", redirect_to=url))

    assert hits == [] and not claude_saw_an_image(harness)
    assert "the CDN sent it elsewhere (a redirect)" in text and kept["status"] == "refused"


async def test_an_image_bigger_than_its_metadata_says_is_refused(harness):
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * MAX_IMAGE_BYTES  # 5 MB and 8 bytes, declared as 1 kB
    text, kept = await ask(harness, "big.png", harness.discord.attach("big.png", big, "image/png", declared_size=1000))
    assert not claude_saw_an_image(harness)
    assert "big.png: it is larger than 5 MB" in text and kept["status"] == "refused"


async def test_a_text_file_is_counted_while_streaming_its_decompressed_bytes(harness):
    # Gzip-compressed by the CDN: 20 MB of text arrive as about 20 kB with no true Content-Length.
    text, kept = await ask(
        harness, "notes.txt", harness.discord.attach("notes.txt", b"a" * 20_000_000, "text/plain", declared_size=100)
    )
    assert "notes.txt: it is larger than 100 kB" in text and kept["status"] == "refused"
    assert len(json.dumps(harness.claude.requests[-1]["messages"])) < MAX_TEXT_BYTES  # none of it went on


@pytest.mark.parametrize(
    "width, height, reason",
    [
        (100_000, 100_000, "it is larger than 8000x8000 pixels"),  # Pillow's own bomb limit (178M px) trips first
        (9_000, 10, "it is 9000x10 pixels, and images can be 8000x8000 at most"),
    ],
)
async def test_an_image_whose_header_is_too_large_is_refused_before_decoding(harness, width, height, reason):
    # Discord's metadata says nothing of its size (as for a file it could not measure): the header decides.
    text, kept = await ask(
        harness, "bomb.png", harness.discord.attach("bomb.png", png_header(width, height), "image/png")
    )
    assert not claude_saw_an_image(harness)
    assert f"bomb.png: {reason}" in text and kept["reason"] == reason


# -- signed URLs that expire ------------------------------------------------------------------------


async def test_the_fake_cdn_serves_only_signed_unexpired_urls_as_discord_does(discord_server):
    good = discord_server.attach("cat.png", PNG, "image/png")["url"]
    expired = discord_server.attach("old.png", PNG, "image/png", expires_in=-1)["url"]
    base, _, query = good.partition("?")
    tampered = good.replace("&hm=", "&hm=0")
    longer = good.replace(f"ex={query.split('&')[0][3:]}", f"ex={int(time.time()) + 10**6:x}")
    async with aiohttp.ClientSession() as session:

        async def get(url):
            async with session.get(url) as response:
                return response.status, await response.read()

        assert await get(good) == (200, PNG)
        for refused in (base, expired, tampered, longer):  # unsigned, expired, forged, extended
            assert await get(refused) == (404, CDN_GONE.encode())
    assert {"ex", "is", "hm"} <= {part.split("=")[0] for part in query.split("&") if part}


async def test_an_expired_attachment_url_gets_a_clear_answer_and_the_exchange_is_kept(harness):
    text, kept = await ask(harness, "old.png", harness.discord.attach("old.png", PNG, "image/png", expires_in=-60))

    assert not claude_saw_an_image(harness)
    assert text == "*(I couldn't look at old.png: its link has expired; please send it again.)*\nEcho #1: look"
    assert kept["status"] == "refused" and kept["reason"] == "its link has expired; please send it again"
    assert harness.rows()[0]["bot_response"] == text
