"""!stats, !history and !export through the fake Discord, checked against the database."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import random
import re
import string

from sqlite_utils import Database

from bot.exports.files import csv_records, export_file
from bot.store import ConversationLog, Exchange
from tests.support.harness import chat, with_settings


def fields(message) -> dict[str, str]:
    [embed] = message.embeds
    return {field["name"]: field["value"] for field in embed["fields"]}


async def test_stats_embed_matches_the_database(harness):
    await chat(harness, harness.alice, "one", "two")
    harness.claude.failures = [500]
    await chat(harness, harness.bob, "three")

    [message] = await harness.say(harness.bob, "!stats")
    shown = fields(message)
    with Database(harness.settings.log_db) as db:
        tokens = db.execute("select sum(tokens_used) from conversations").fetchone()[0]
    assert shown["Total conversations"] == "3"
    assert shown["Unique users"] == "2"
    assert shown["Last 24 hours"] == "3"
    assert shown["Total tokens"] == f"{tokens:,}"
    assert tokens > 0
    assert "claude-haiku-4-5: 2 conversations" in shown["Models"]
    assert "static_fallback: 1 conversations, 0 tokens" in shown["Models"]
    with Database(harness.settings.log_db) as db:  # Haiku's list price: $1 in, $5 out per million tokens
        cost = db.execute(
            "select (sum(input_tokens) * 1 + sum(output_tokens) * 5) / 1e6 from conversations "
            "where model_used = 'claude-haiku-4-5'"
        ).fetchone()[0]
    assert shown["Estimated cost"].startswith(f"${cost:,.2f} in total, ${cost:,.2f} in the last 24 hours")
    assert "static_fallback: $0.00" in shown["Estimated cost"]


async def test_history_shows_your_own_last_ten_newest_first(harness):
    await chat(harness, harness.alice, *[f"message {i}" for i in range(12)])
    await chat(harness, harness.bob, "not alice")

    [message] = await harness.say(harness.alice, "!history")
    [embed] = message.embeds
    assert len(embed["fields"]) == 10
    assert "Alice A." in embed["title"]
    assert "message 11" in embed["fields"][0]["value"]
    assert "message 2" in embed["fields"][-1]["value"]
    assert all("not alice" not in f["value"] for f in embed["fields"])
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · claude-haiku-4-5 · \d+ tokens", embed["fields"][0]["name"])


async def test_history_truncates_long_texts_visibly_within_embed_limits(harness):
    harness.claude.reply_text = lambda body: "r" * 1990  # long, but one Discord message
    await chat(harness, harness.alice, *["y" * 3000 for _ in range(3)])
    await chat(harness, harness.alice, *["z" * 4000 for _ in range(7)])
    [message] = await harness.say(harness.alice, "!history")
    [embed] = message.embeds
    total = len(embed["title"]) + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    assert all(len(f["value"]) <= 1024 and "…" in f["value"] for f in embed["fields"])


async def test_history_of_someone_else_is_for_admins_only(harness):
    await chat(harness, harness.alice, "secret")

    [refusal] = await harness.say(harness.bob, "!history alice")
    assert "only the bot's owners and server admins (Manage Server) can see" in refusal.content
    [by_mention] = await harness.say(harness.admin, f"!history <@{harness.alice.id}>", mentions=[harness.alice])
    [by_name] = await harness.say(harness.admin, "!history ALICE")
    [by_display_name] = await harness.say(harness.admin, "!history Alice A.")
    [by_id] = await harness.say(harness.admin, f"!history {harness.alice.id}")
    for message in (by_mention, by_name, by_display_name, by_id):
        assert "secret" in message.embeds[0]["fields"][0]["value"]


async def test_configured_owner_ids_count_as_owners(harness):
    with_settings(harness, owner_ids=frozenset({int(harness.bob.id)}))
    await chat(harness, harness.alice, "hi")
    [message] = await harness.say(harness.bob, "!history alice")
    assert message.embeds and "hi" in message.embeds[0]["fields"][0]["value"]


async def test_history_of_unknown_user_says_so(harness):
    [message] = await harness.say(harness.admin, "!history nobody-here")
    assert message.content == "No exchanges found for nobody-here."
    [own] = await harness.say(harness.bob, "!history")
    assert own.content == "No exchanges found for you."


async def test_history_in_a_dm_shows_own_and_refuses_others(harness):
    await chat(harness, harness.alice, "from the server")
    [own] = await harness.say(harness.alice, "!history", dm=True)
    [other] = await harness.say(harness.alice, f"!history {harness.bob.id}", dm=True)
    assert "from the server" in own.embeds[0]["fields"][0]["value"]
    assert "only the bot's owners and server admins (Manage Server) can see" in other.content


async def test_export_is_refused_to_non_admins(harness):
    [message] = await harness.say(harness.alice, "!export")
    assert (
        "is only for the bot's owners (BOT_ADMIN_IDS) and server admins (Manage Server)" in message.content
        and not message.files
    )


async def test_export_csv_reads_back_equal_to_the_database(harness):
    await chat(harness, harness.alice, "first", 'quotes " and, commas\nand a newline')
    await chat(harness, harness.bob, "émoji 🎉")
    while not all(row["reply_message_id"] for row in harness.rows()):  # recorded just after each reply
        await asyncio.sleep(0.01)

    [message] = await harness.say(harness.admin, "!export")
    [(name, data)] = message.files.items()
    assert re.fullmatch(r"conversation_export_\d{8}_\d{6}\.csv", name)
    exported = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    with Database(harness.settings.log_db) as db:
        expected = [
            {k: "" if v is None else str(v) for k, v in row.items()}
            for row in db["conversations"].rows_where(order_by="id")
        ]
    assert exported == expected
    assert list(exported[0])[:9] == [
        "id",
        "user_id",
        "user_name",
        "channel_id",
        "user_message",
        "bot_response",
        "timestamp",
        "tokens_used",
        "model_used",
    ]
    assert "3 exchanges" in message.content  # a CSV row an exchange


def fill(harness, count: int, text_size: int, alphabet: str) -> None:
    """Log `count` rows of the harness's server through the store's own writer."""
    rng = random.Random(7)
    with ConversationLog(harness.settings.log_db) as store:
        futures = [
            store.submit(
                Exchange(
                    user_id=str(i % 50),
                    user_name=f"user{i % 50}",
                    channel_id="1",
                    model_used="claude-haiku-4-5",
                    guild_id=harness.discord.guild_id,
                    user_message="".join(rng.choices(alphabet, k=text_size)),
                    bot_response="".join(rng.choices(alphabet, k=text_size)),
                    message_id=f"m{i}",
                )
            )
            for i in range(count)
        ]
        assert {f.result() for f in futures} == {"logged"}


async def test_export_over_the_upload_limit_is_sent_gzipped(harness):
    # About 12 MiB of ordinary words: over Discord's 10 MiB, far under it compressed.
    fill(harness, 8000, 750, "abcdefgh ")
    [message] = await harness.say(harness.admin, "!export")
    [(name, data)] = message.files.items()
    assert name.endswith(".csv.gz") and len(data) <= 10 * 1024 * 1024
    rows = list(csv.reader(io.StringIO(gzip.decompress(data).decode())))
    assert len(rows) == 8001
    assert "gzip-compressed" in message.content


async def test_export_too_big_even_compressed_is_sent_in_parts(harness):
    fill(harness, 20000, 800, string.ascii_letters + string.digits)  # ~31 MiB, compresses poorly
    messages = await harness.say(harness.admin, "!export", replies=3)
    assert all(len(data) <= 10 * 1024 * 1024 for m in messages for data in m.files.values())
    parts = [(name, data) for m in messages for name, data in m.files.items()]
    assert [name[-14:] for name, _ in parts] == [f"_part0{i}.csv.gz" for i in range(1, 4)]
    assert messages[0].content.startswith("Part 1 of 3 of 20,000 exchanges (gzip; each part stands alone)")
    rows = [row for _, data in parts for row in csv.reader(io.StringIO(gzip.decompress(data).decode()))]
    assert rows.count(rows[0]) == 3 and len(rows) - 3 == 20000


async def test_export_over_the_part_limit_points_to_datasette(harness):
    fill(harness, 15000, 800, string.ascii_letters + string.digits)  # two parts' worth
    with_settings(harness, export_max_parts=1, datasette_url="https://logs.example.org")
    [message] = await harness.say(harness.admin, "!export")
    assert not message.files
    assert "too big for Discord" in message.content
    assert "https://logs.example.org/conversation_logs/conversations.csv?_stream=on" in message.content


def as_pieces(rows: list[list]):
    """Header and rows as the (bytes, count) pieces an export writes."""
    return ((line, 0 if n == 0 else 1) for n, line in enumerate(csv_records(iter(rows))))


def test_split_parts_each_fit_and_together_hold_every_row(tmp_path):
    rng = random.Random(1)
    rows = [["id", "text"]] + [
        [str(i), "".join(rng.choices(string.ascii_letters, k=rng.randint(10, 3000)))] for i in range(3000)
    ]
    result = export_file("csv", as_pieces(rows), tmp_path, max_bytes=200_000, max_parts=100)
    assert not result.too_big and len(result.files) > 5
    assert all(path.stat().st_size <= 200_000 for path in result.files)
    back = []
    for path in result.files:
        part = list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))
        assert part[0] == ["id", "text"]
        back += part[1:]
    assert back == rows[1:]


def test_too_many_parts_is_reported_not_sent(tmp_path):
    rng = random.Random(2)
    rows = [["id", "text"]] + [[str(i), "".join(rng.choices(string.ascii_letters, k=2000))] for i in range(2000)]
    result = export_file("csv", as_pieces(rows), tmp_path, max_bytes=100_000, max_parts=3)
    assert result.too_big and result.files == [] and result.rows == 2000


async def test_history_with_injection_looking_input_is_just_a_name(harness):
    await chat(harness, harness.alice, "still here")
    for attack in ("x' OR '1'='1", "alice'; DROP TABLE conversations; --", "%", "_"):
        [message] = await harness.say(harness.admin, f"!history {attack}")
        assert message.content.startswith("No exchanges found for")
    assert [r["user_message"] for r in harness.rows()] == ["still here"]
