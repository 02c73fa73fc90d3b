"""Attachments by content hash (issue 23, BOT_KEEP_ATTACHMENTS): the bytes of every file sent to Claude kept
once per SHA-256 beside the log, replayed by the `requests` export, removed with the last row referring to
them, carried by the backup and the replica, shown to owners only; and with the setting off, kept nowhere."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib
import json
import logging
import re
import subprocess
import threading
from dataclasses import replace

import pytest
from click.testing import CliRunner
from datasette import hookimpl
from datasette.plugins import pm
from datasette_auth_passwords.utils import hash_password

from bench import blobs as blobs_bench
from bot.cli import cli
from bot.config.settings import ConfigError, Settings
from bot.core.export_formats import records
from bot.replica import litestream as replication
from bot.replica.litestream_config import BLOBS_REPLICA, databases
from bot.replica.replicator import Replicator
from bot.store import ConversationLog, Selection
from bot.store.blobs import BlobStore, SentFile, blobs_path
from bot.store.reads import Reads
from tests.support.harness import Harness, running_bot
from tests.support.images import PNG
from tests.support.logs import exchange
from tests.support.replica_fixtures import poll, replicated_settings
from tests.support.web import datasette_for

NOTES = b"MARK-7f3a the plan for tuesday\nline two\n"  # MARK-7f3a: found in a raw file only if the bytes are there
NOTES_SHA = hashlib.sha256(NOTES).hexdigest()
PNG_SHA = hashlib.sha256(PNG).hexdigest()


@pytest.fixture
def keeping(settings):
    return replace(settings, keep_attachments=True)


@pytest.fixture
async def harness_keeping(keeping, discord_server, claude, members):
    settings = replace(
        keeping,
        chat_channel_ids=frozenset({int(discord_server.channels["chat"])}),
        cdn_origins=frozenset({discord_server.cdn_base}),
    )
    async with running_bot(settings, discord_server) as (bot, service):
        yield Harness(discord_server, claude, settings, bot, service, *members)


async def send_file(harness, user, name: str, data: bytes, kind: str, text: str = "look at this") -> None:
    attachment = harness.discord.attach(name, data, kind, **({"width": 4, "height": 3} if kind == "image/png" else {}))
    await harness.say(user, text, mention_bot=True, attachments=[attachment])


def kept(settings) -> BlobStore:
    return BlobStore(blobs_path(settings.log_db))


def quiet(claude) -> None:
    """The fake Claude echoes the request (a text file's words too); a reply that quotes nothing instead, so
    the bytes found on disk can only be the kept ones."""
    claude.reply_text = lambda body: "Noted."


def raw_files(folder) -> bytes:
    """Every byte of every file under `folder`: the log, its WAL, the memory, spool, blobs, whatever exists."""
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_the_setting_is_off_by_default_and_a_bad_value_names_the_variable():
    assert Settings.from_env({}, dotenv_path=None).keep_attachments is False
    assert Settings.from_env({"BOT_KEEP_ATTACHMENTS": "on"}, dotenv_path=None).keep_attachments is True
    with pytest.raises(ConfigError, match=r"^BOT_KEEP_ATTACHMENTS must be on or off, got 'sometimes'$"):
        Settings.from_env({"BOT_KEEP_ATTACHMENTS": "sometimes"}, dotenv_path=None)


async def test_off_by_default_no_store_is_created_and_the_bytes_are_nowhere(harness, tmp_path):
    quiet(harness.claude)
    await send_file(harness, harness.alice, "notes.txt", NOTES, "text/plain")
    await send_file(harness, harness.alice, "cat.png", PNG, "image/png")
    harness.service.store.blobs.flush()
    assert [json.loads(r["attachments"])[0]["sha256"] for r in harness.rows()] == [NOTES_SHA, PNG_SHA]
    assert not blobs_path(harness.settings.log_db).exists()
    everything = raw_files(tmp_path)
    assert b"MARK-7f3a" not in everything and PNG not in everything


async def test_with_keep_on_the_requests_export_replays_exactly_what_claude_received(harness_keeping):
    harness = harness_keeping
    await send_file(harness, harness.alice, "notes.txt", NOTES, "text/plain", "summarise this file")
    await send_file(harness, harness.alice, "cat.png", PNG, "image/png", "")
    await send_file(harness, harness.bob, "cat.png", PNG, "image/png", "the same cat")  # the same bytes again
    harness.service.store.blobs.flush()
    rows = harness.rows()
    lines = [json.loads(line) for line, _ in records("requests", Reads(harness.settings.log_db), Selection())]
    assert len(lines) == len(rows) == 3
    for row, line in zip(rows, lines, strict=True):
        sent = {k: v for k, v in harness.claude.answered[row["anthropic_message_id"]].items() if k != "stream"}
        assert line["files_missing"] == [] and line["request"] == sent
    assert sorted(kept(harness.settings).hashes()) == sorted([NOTES_SHA, PNG_SHA])  # once per SHA-256


async def test_a_shared_file_stays_until_the_last_row_referring_to_it_is_forgotten(harness_keeping, tmp_path):
    harness, store = harness_keeping, harness_keeping.service.store
    quiet(harness.claude)
    await send_file(harness, harness.alice, "notes.txt", NOTES, "text/plain")
    await send_file(harness, harness.bob, "same.txt", NOTES, "text/plain")
    store.blobs.flush()
    assert kept(harness.settings).get(NOTES_SHA) == SentFile(NOTES_SHA, "text/plain", NOTES)
    assert store.forget(harness.alice.id).result() == 1
    store.blobs.flush()
    assert kept(harness.settings).get(NOTES_SHA) is not None  # bob's row still refers to it
    assert store.forget(harness.bob.id).result() == 1
    store.blobs.flush()
    assert kept(harness.settings).get(NOTES_SHA) is None and kept(harness.settings).hashes() == []
    assert b"MARK-7f3a" not in raw_files(tmp_path)  # secure_delete: zeroed, not left in a free page


async def test_an_opted_out_users_file_is_never_kept(harness_keeping):
    harness = harness_keeping
    await harness.say(harness.bob, "!optout")
    await send_file(harness, harness.bob, "notes.txt", NOTES, "text/plain")
    harness.service.store.blobs.flush()
    assert harness.rows() == [] and kept(harness.settings).hashes() == []


def test_retention_removes_the_bytes_with_the_last_row(tmp_path):
    path = tmp_path / "conversation_logs.db"
    attachments = json.dumps(
        [{"name": "n.txt", "type": "text/plain", "size": 1, "status": "sent", "sha256": NOTES_SHA}]
    )
    with ConversationLog(path, keep_attachments=True) as store:
        store.submit(exchange(1, attachments=attachments, timestamp="2020-01-01 00:00:00")).result()
        store.blobs.keep([SentFile(NOTES_SHA, "text/plain", NOTES)]).result()
        assert BlobStore(blobs_path(path)).get(NOTES_SHA) is not None
        assert store.delete_older_than(30).result() == 1
        store.blobs.flush()
        assert BlobStore(blobs_path(path)).hashes() == []


def test_a_file_whose_row_is_gone_before_its_write_is_not_kept(tmp_path):
    """The write waits for nothing, so its row may be forgotten first: the bytes of no row are never kept."""
    path = tmp_path / "conversation_logs.db"
    with ConversationLog(path, keep_attachments=True) as store:
        assert store.blobs.keep([SentFile(NOTES_SHA, "text/plain", NOTES)]).result() == 0
        assert BlobStore(blobs_path(path)).hashes() == []


async def test_a_failing_blob_store_logs_a_line_and_keeps_the_row(harness_keeping, caplog):
    harness = harness_keeping
    path = blobs_path(harness.settings.log_db)
    path.unlink()
    path.mkdir()  # SQLite cannot open a folder: "unable to open database file"
    with caplog.at_level(logging.WARNING, logger="bot.store.blobs"):
        await send_file(harness, harness.alice, "notes.txt", NOTES, "text/plain")
        harness.service.store.blobs.flush()
    [row] = harness.rows()
    assert json.loads(row["attachments"])[0]["sha256"] == NOTES_SHA
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.store.blobs"]
    assert line.startswith("keeping attachments in the blob store failed (the rows are kept): ")


async def test_the_answer_never_waits_for_the_blob_write(harness_keeping, monkeypatch):
    harness, release = harness_keeping, threading.Event()
    real_put = BlobStore.put

    def stuck_put(self, file):  # a blob store that hangs, e.g. a slow disk
        assert release.wait(30)
        real_put(self, file)

    monkeypatch.setattr(BlobStore, "put", stuck_put)
    await asyncio.wait_for(send_file(harness, harness.alice, "notes.txt", NOTES, "text/plain"), 10)
    assert len(harness.rows()) == 1 and kept(harness.settings).hashes() == []  # answered and logged, bytes pending
    release.set()
    harness.service.store.blobs.flush()
    assert kept(harness.settings).hashes() == [NOTES_SHA]


def test_the_backup_and_the_replica_carry_the_kept_bytes(keeping, tmp_path):
    with ConversationLog(keeping.log_db, keep_attachments=True) as store:
        attachments = json.dumps(
            [{"name": "n", "type": "text/plain", "size": 1, "status": "sent", "sha256": NOTES_SHA}]
        )
        store.submit(exchange(1, attachments=attachments)).result()
        store.blobs.keep([SentFile(NOTES_SHA, "text/plain", NOTES)]).result()
    target = tmp_path / "backup" / "copy.db"
    target.parent.mkdir()
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "backup", str(target), "--db", str(keeping.log_db)])
    assert result.exit_code == 0, result.output
    assert f"to {blobs_path(target)}" in result.output
    assert BlobStore(blobs_path(target)).get(NOTES_SHA) == SentFile(NOTES_SHA, "text/plain", NOTES)
    assert databases(keeping)[BLOBS_REPLICA] == blobs_path(keeping.log_db)
    assert BLOBS_REPLICA not in databases(replace(keeping, keep_attachments=False))


@pytest.mark.parametrize("keep", [True, False])
def test_stats_says_which_way_the_deployment_runs(keep, tmp_path):
    log = tmp_path / "conversation_logs.db"
    ConversationLog(log).open().close()
    env = {"BOT_KEEP_ATTACHMENTS": "on" if keep else "off"}
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "stats", "--db", str(log)], env=env)
    assert result.exit_code == 0, result.output
    expected = "bytes are kept (BOT_KEEP_ATTACHMENTS=on)" if keep else "bytes are not kept (BOT_KEEP_ATTACHMENTS=off)"
    assert expected in result.output


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def web(tmp_path, monkeypatch):
    """Datasette over a log with one kept image, one kept text file and an SVG (which the bot never sends,
    put there as a file an attacker managed to get kept), as the Procfile's web process serves it."""
    monkeypatch.setenv("DATASETTE_REQUIRE_LOGIN", "1")
    monkeypatch.setenv("DATASETTE_PASSWORD_HASH", hash_password(PASSWORD, iterations=1000))
    path = tmp_path / "conversation_logs.db"
    files = [SentFile(PNG_SHA, "image/png", PNG), SentFile(NOTES_SHA, "text/plain", NOTES), svg_file()]
    attached = [
        {"name": f"f{n}", "type": f.media_type, "size": 1, "status": "sent", "sha256": f.sha256}
        for n, f in enumerate(files)
    ]
    with ConversationLog(path, keep_attachments=True) as store:
        store.submit(exchange(1, attachments=json.dumps(attached))).result()
        store.blobs.keep(files).result()
    ds = datasette_for(path)
    await ds.invoke_startup()
    return ds


def svg_file() -> SentFile:
    return SentFile(hashlib.sha256(SVG).hexdigest(), "image/svg+xml", SVG)


OWNER = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}


async def test_an_owner_fetches_a_kept_image_inline_and_nobody_else_can(web):
    url = f"/-/attachments/{PNG_SHA}"
    owner = await web.client.get(url, headers=OWNER)
    assert owner.status_code == 200 and owner.content == PNG
    assert owner.headers["content-type"] == "image/png"
    assert owner.headers["x-content-type-options"] == "nosniff"
    assert owner.headers["content-disposition"].startswith("inline;")
    anonymous = await web.client.get(url)
    assert anonymous.status_code == 401 and PNG not in anonymous.content
    forged = await web.client.get(url, cookies={"ds_actor": web.sign({"a": {"id": "admin"}}, "actor")})
    assert forged.status_code == 401  # a cookie without the login's session is no login (login.py)
    wrong = base64.b64encode(b"admin:guess").decode()
    assert (await web.client.get(url, headers={"Authorization": f"Basic {wrong}"})).status_code == 401


def test_an_actor_that_is_no_account_is_not_an_owner(web):
    plugin = importlib.import_module("plugins.attachment_bytes")
    assert plugin.is_owner(web, {"id": "admin"}) and not plugin.is_owner(web, {"id": "root"})
    assert not plugin.is_owner(web, None) and not plugin.is_owner(web, "admin")


@pytest.mark.parametrize(
    "guess",
    [
        "0" * 64,  # a well-formed hash no file has
        PNG_SHA.upper(),  # the right hash, another spelling
        PNG_SHA[:-1],
        "..%2Fconversation_logs.db",
        "..%2F..%2Fetc%2Fpasswd",
        f"{PNG_SHA}%2F..%2F..%2Fconversation_logs.db",
    ],
)
async def test_guessed_hashes_and_paths_find_nothing(web, guess):
    response = await web.client.get(f"/-/attachments/{guess}", headers=OWNER)
    assert response.status_code == 404 and b"SQLite format 3" not in response.content and PNG not in response.content


async def test_anything_but_an_image_is_a_plain_text_download_svg_included(web):
    for file in (SentFile(NOTES_SHA, "text/plain", NOTES), svg_file()):
        response = await web.client.get(f"/-/attachments/{file.sha256}", headers=OWNER)
        assert response.status_code == 200 and response.content == file.data
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["content-disposition"] == f'attachment; filename="{file.sha256}.txt"'
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_transcript_shows_owners_the_kept_images_as_thumbnails(web):
    page = await web.client.get("/conversation_logs/conversations.transcript", headers=OWNER)
    assert page.status_code == 200
    assert page.text.count('<img class="thumb"') == 1 and f'src="/-/attachments/{PNG_SHA}"' in page.text
    assert svg_file().sha256 not in page.text.split("<img", 1)[1]  # only the PNG becomes an image


async def test_a_public_transcript_shows_no_thumbnail_and_the_route_still_refuses(web, monkeypatch):
    public = datasette_for(web.databases["conversation_logs"].path, {"public": True})
    await public.invoke_startup()
    page = await public.client.get("/conversation_logs/conversations.transcript")
    assert page.status_code == 200 and "<img" not in page.text and "f0 (image/png" in page.text
    assert (await public.client.get(f"/-/attachments/{PNG_SHA}")).status_code == 401


def test_the_replica_carries_the_kept_bytes_and_a_lost_disk_gets_them_back(tmp_path):
    """The real litestream: the blob file is replicated beside the log, and restored at start with it."""
    settings = replicated_settings(tmp_path, f"file://{tmp_path}/replica", BOT_KEEP_ATTACHMENTS="on")
    attachments = json.dumps([{"name": "n", "type": "text/plain", "size": 1, "status": "sent", "sha256": NOTES_SHA}])
    with ConversationLog(settings.log_db, own_checkpoints=False, keep_attachments=True) as store:
        replicator = Replicator(settings).start()
        store.submit(exchange(1, attachments=attachments)).result()
        store.blobs.keep([SentFile(NOTES_SHA, "text/plain", NOTES)]).result()
        probe = tmp_path / "probe"
        poll(lambda: restored_blob(settings, probe), 30, what="the blob file in the replica")
        replicator.stop()
    for path in settings.log_db.parent.iterdir():  # the disk is gone
        subprocess.run(["rm", "-rf", str(path)], check=True)
    replication.restore_missing(settings)
    assert BlobStore(blobs_path(settings.log_db)).get(NOTES_SHA) == SentFile(NOTES_SHA, "text/plain", NOTES)
    env = {
        name: value for name, value in settings.environment.items() if name.startswith(("LITESTREAM", "BOT", "CONV"))
    }
    target = tmp_path / "restored.blobs.db"
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "restore", "--blobs", str(target)], env=env)
    assert result.exit_code == 0 and result.output.endswith(f"to {target}: 1 blobs\n"), result.output


def restored_blob(settings, folder) -> bool:
    """Whether a restore of the blob file's replica, as of now, holds the notes' bytes."""
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    folder.mkdir()
    target = folder / "blobs.db"
    return replication.restore(settings, BLOBS_REPLICA, target) and BlobStore(target).get(NOTES_SHA) is not None


def test_the_bench_measures_the_refs_and_the_blob_worker(capsys):
    blobs_bench.main(burst_rows=200, rounds=1, files=2)
    out = capsys.readouterr().out
    assert re.search(r"refs    with: [\d,]+ rows/s", out) and re.search(r"blob worker: [\d.]+ ms per 1 MB file", out)


class OtherLogin:
    """Another auth plugin (as `datasette --root` or an SSO plugin would be) logging someone in as `root`."""

    @hookimpl
    def actor_from_request(self, datasette, request):
        return {"id": "root"} if request.headers.get("x-other-login") == "root" else None


async def test_a_logged_in_actor_that_is_no_owner_is_refused(web):
    pm.register(OtherLogin(), name="test-other-login")
    try:
        response = await web.client.get(f"/-/attachments/{PNG_SHA}", headers={"x-other-login": "root"})
        page = await web.client.get("/conversation_logs/conversations.transcript", headers={"x-other-login": "root"})
    finally:
        pm.unregister(name="test-other-login")
    assert response.status_code == 403 and PNG not in response.content
    assert page.status_code == 200 and "<img" not in page.text  # let in by the login, but shown no thumbnail
