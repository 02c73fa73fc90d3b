"""Attachments: images reach Claude as image blocks, the log keeps their metadata (never the bytes),
and other files or oversized images get a clear answer."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json

from bot.core.attachments import MAX_IMAGE_BYTES, MAX_TEXT_BYTES
from bot.core.formatting import history_entry
from tests.support.images import PNG
from tests.support.web import datasette_for


def attach(harness, name, data, content_type, **size):
    return harness.discord.attach(name, data, content_type, **size)


async def test_an_image_reaches_claude_as_an_image_block_and_the_log_keeps_its_metadata(harness):
    picture = attach(harness, "cat.png", PNG, "image/png", width=640, height=480)
    [reply] = await harness.say(harness.alice, "what is this?", mention_bot=True, attachments=[picture])

    [image, text] = harness.claude.requests[-1]["messages"][-1]["content"]
    assert image == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()},
    }
    assert text == {"type": "text", "text": "what is this?"}
    assert reply.content == "Echo #1: [image/png image] what is this?"
    [row] = harness.rows()
    assert row["user_message"] == "what is this?"
    assert json.loads(row["attachments"]) == [
        {
            "name": "cat.png",
            "type": "image/png",
            "size": len(PNG),
            "url": picture["url"],
            "status": "sent",
            "reason": None,
            "sha256": hashlib.sha256(PNG).hexdigest(),  # of the bytes Claude was sent
        }
    ]
    # The next turn names the image in its context rather than sending it again.
    await harness.say(harness.alice, "and now?", mention_bot=True)
    assert harness.claude.requests[-1]["messages"][0] == {"role": "user", "content": "what is this? [image: cat.png]"}


async def test_an_image_alone_is_answered(harness):
    picture = attach(harness, "photo.jpg", PNG, "image/jpeg")
    [reply] = await harness.say(harness.alice, "", mention_bot=True, attachments=[picture])

    assert harness.claude.requests[-1]["messages"][-1]["content"][0]["source"]["media_type"] == "image/jpeg"
    assert reply.content == "Echo #1: [image/jpeg image]"
    assert harness.rows()[0]["user_message"] == ""


async def test_oversized_images_and_other_files_are_refused_clearly_and_the_text_still_answered(harness):
    huge = attach(harness, "huge.png", b"\x89PNG" + b"\x00" * MAX_IMAGE_BYTES, "image/png")
    pdf = attach(harness, "report.pdf", b"%PDF-1.7 ...", "application/pdf")
    [reply] = await harness.say(harness.alice, "look at these", mention_bot=True, attachments=[huge, pdf])

    assert harness.claude.requests[-1]["messages"][-1]["content"] == "look at these"  # no image block
    assert reply.content == (
        "*(I couldn't look at huge.png: it is 5.0 MB and images can be 5 MB at most.)*\n"
        "*(I couldn't look at report.pdf: I can only look at images (PNG, JPEG, GIF or WebP) and text files.)*\n"
        "Echo #1: look at these"
    )
    [row] = harness.rows()
    assert row["bot_response"] == reply.content  # what the user saw
    kept = json.loads(row["attachments"])
    assert [(a["name"], a["type"], a["size"], a["status"]) for a in kept] == [
        ("huge.png", "image/png", MAX_IMAGE_BYTES + 4, "refused"),
        ("report.pdf", "application/pdf", 12, "refused"),
    ]
    assert all(a["reason"] for a in kept)


async def test_a_refused_file_without_text_gets_an_answer_and_claude_is_not_called(harness):
    archive = attach(harness, "stuff.zip", b"PK\x03\x04", "application/zip")
    [reply] = await harness.say(harness.alice, "", mention_bot=True, attachments=[archive])

    assert reply.content == (
        "*(I couldn't look at stuff.zip: I can only look at images (PNG, JPEG, GIF or WebP) and text files.)*"
    )
    assert harness.claude.hits == 0
    assert harness.rows() == []


async def test_exports_datasette_and_the_transcript_show_the_attachments(harness, tmp_path):
    picture = attach(harness, "cat.png", PNG, "image/png")
    await harness.say(harness.alice, "what is this?", mention_bot=True, attachments=[picture])
    [row] = harness.rows()
    for name in ("csv", "jsonl", "chat"):
        (tmp_path / name).mkdir()

    csv_file = (await harness.service.command_data.export(tmp_path / "csv", fmt="csv")).files[0]
    [exported] = list(csv.DictReader(io.StringIO(csv_file.read_text())))
    assert exported["attachments"] == row["attachments"]
    jsonl_file = (await harness.service.command_data.export(tmp_path / "jsonl", fmt="jsonl")).files[0]
    assert json.loads(jsonl_file.read_text())["attachments"] == row["attachments"]
    chat_file = (await harness.service.command_data.export(tmp_path / "chat", fmt="chat-jsonl")).files[0]
    assert json.loads(chat_file.read_text())["messages"][0]["content"] == "what is this? [image: cat.png]"
    assert "[image: cat.png]" in history_entry(row)[1]

    ds = datasette_for(harness.settings.log_db)
    await ds.invoke_startup()
    table = (await ds.client.get("/conversation_logs/conversations.json?_shape=array")).json()
    assert table[0]["attachments"] == row["attachments"]
    transcript = await ds.client.get(f"/conversation_logs/conversations/{row['id']}.transcript")
    assert f"📎 cat.png (image/png, {len(PNG)} bytes, sent to Claude)" in transcript.text


async def test_an_image_that_cannot_be_downloaded_is_named_and_the_text_answered(harness):
    picture = attach(harness, "gone.png", PNG, "image/png")
    del harness.discord.files[picture["id"]]  # the CDN answers 404, as for an expired or deleted file
    [reply] = await harness.say(harness.alice, "see this?", mention_bot=True, attachments=[picture])

    assert reply.content == (
        "*(I couldn't look at gone.png: Discord's CDN no longer serves it (HTTP 404); "
        "please send it again.)*\nEcho #1: see this?"
    )
    [row] = harness.rows()
    assert json.loads(row["attachments"])[0]["status"] == "refused"


async def test_a_text_file_goes_to_claude_as_text_and_a_big_one_is_refused(harness):
    notes = attach(harness, "notes.md", b"# Plan\nbuy milk", "text/markdown; charset=utf-8")
    big = attach(harness, "dump.txt", b"x" * (MAX_TEXT_BYTES + 1), "text/plain")
    [reply] = await harness.say(harness.alice, "summarise", mention_bot=True, attachments=[notes, big])

    assert harness.claude.requests[-1]["messages"][-1]["content"] == [
        {"type": "text", "text": "[file: notes.md]\n# Plan\nbuy milk"},
        {"type": "text", "text": "summarise"},
    ]
    assert reply.content.startswith("*(I couldn't look at dump.txt: text files can be 100 kB at most.)*\n")
    [row] = harness.rows()
    assert [a["status"] for a in json.loads(row["attachments"])] == ["sent", "refused"]
    await harness.say(harness.alice, "thanks", mention_bot=True)
    assert harness.claude.requests[-1]["messages"][0]["content"] == "summarise [file: notes.md]"
