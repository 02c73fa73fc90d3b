"""Every command as `/name` through the unmodified discord.py and the fake's interactions: the same
figures as `!name`, private answers ephemeral, the same tenancy, and /forget's button."""

from __future__ import annotations

import asyncio
import csv
import io

from tests.support.fake_interactions import EPHEMERAL
from tests.support.harness import chat, with_settings
from tests.support.logs import memory_turns

PRIVATE = ("history", "export", "forget", "optout", "optin", "privacy")


def fields(message) -> dict[str, str]:
    [embed] = message.embeds
    return {field["name"]: field["value"] for field in embed["fields"]}


async def slash(harness, user, name, options=None, **where):
    """The one answer to /name."""
    interaction = await harness.discord.user_slash(user, name, options, **where)
    [answer] = interaction.messages
    return answer


async def test_every_command_is_registered_once_with_its_options(harness):
    commands = harness.discord.interactions.commands.registered[None]
    assert set(commands) == {"stats", "history", "export", "forget", "optout", "optin", "privacy", "help"}
    assert harness.discord.interactions.commands.sync_calls == [None]  # one global bulk overwrite
    history = {o["name"]: o for o in commands["history"]["options"]}
    assert history["user"]["type"] == 6  # Discord's user picker
    assert [c["value"] for c in history["where"]["choices"]] == ["all"]
    export = {o["name"]: o for o in commands["export"]["options"]}
    assert [c["value"] for c in export["format"]["choices"]] == [
        "csv",
        "jsonl",
        "chat",
        "openai",
        "bedrock",
        "kto",
        "requests",
    ]
    assert {o["name"]: o["type"] for o in commands["forget"]["options"]}["user"] == 6


async def test_stats_is_public_with_the_same_figures_as_the_prefix_form(harness):
    await chat(harness, harness.alice, "one", "two")
    await chat(harness, harness.bob, "three")
    [prefixed] = await harness.say(harness.bob, "!stats")
    slashed = await slash(harness, harness.bob, "stats")
    assert not slashed.ephemeral
    assert fields(slashed) == fields(prefixed)
    assert fields(slashed)["Total conversations"] == "3"
    assert slashed.embeds[0]["description"] == prefixed.embeds[0]["description"] == "This server"


async def test_history_is_private_and_matches_the_prefix_form(harness):
    await chat(harness, harness.alice, "first", "second")
    [prefixed] = await harness.say(harness.alice, "!history")
    slashed = await slash(harness, harness.alice, "history")
    assert slashed.flags & EPHEMERAL
    assert slashed.embeds[0]["title"] == prefixed.embeds[0]["title"]
    assert fields(slashed) == fields(prefixed) and "second" in next(iter(fields(slashed).values()))


async def test_history_of_another_user_is_refused_for_a_plain_member(harness):
    await chat(harness, harness.alice, "alice's secret")
    [prefixed] = await harness.say(harness.bob, "!history alice")
    refused = await slash(harness, harness.bob, "history", {"user": harness.alice})
    assert refused.ephemeral and refused.content == prefixed.content
    assert "only the bot's owners and server admins (Manage Server) can see" in refused.content and not refused.embeds


async def test_admins_pick_another_user_and_owners_reach_every_server(harness):
    await chat(harness, harness.alice, "alice's secret")
    shown = await slash(harness, harness.admin, "history", {"user": harness.alice})
    assert shown.ephemeral and "alice's secret" in next(iter(fields(shown).values()))
    refused = await slash(harness, harness.admin, "history", {"user": harness.alice, "where": "all"})
    assert "only for the bot's owners" in refused.content  # Manage Server is not an owner
    with_settings(harness, owner_ids=frozenset({int(harness.bob.id)}))
    everywhere = await slash(harness, harness.bob, "history", {"user": harness.alice, "where": "all"})
    assert everywhere.embeds[0]["description"] == "Every server and DM"


async def test_private_commands_answer_ephemerally(harness):
    await chat(harness, harness.alice, "hello")
    for name in ("optout", "optin", "privacy"):
        answer = await slash(harness, harness.alice, name)
        assert answer.flags & EPHEMERAL, name
    assert "opted in" in answer.content or answer.embeds  # privacy answered last, with its embed
    assert fields(answer)  # the privacy sections


async def test_optout_as_a_slash_command_stops_logging(harness):
    answer = await slash(harness, harness.alice, "optout")
    assert answer.ephemeral and answer.content.startswith("You're opted out")
    await chat(harness, harness.alice, "not logged")
    assert harness.rows() == []
    answer = await slash(harness, harness.alice, "optin")
    assert answer.content == "You're opted in: your conversations are logged again."


async def test_export_defers_then_sends_the_file_privately(harness):
    await chat(harness, harness.alice, "exported words")
    refused = await slash(harness, harness.alice, "export")  # a plain member in a server
    assert refused.ephemeral and "only for the bot's owners (BOT_ADMIN_IDS) and server admins" in refused.content
    interaction = await harness.discord.user_slash(harness.admin, "export", {"format": "csv"})
    assert interaction.callback_type == 5  # deferred: exports can take longer than 3 seconds
    [answer] = interaction.messages
    assert answer.ephemeral and answer.content == "1 exchange."
    [(name, data)] = answer.files.items()
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert name.endswith(".csv") and rows[0]["user_message"] == "exported words"


async def test_export_chat_format_choice(harness):
    await chat(harness, harness.alice, "for fine-tuning")
    answer = await slash(harness, harness.alice, "export", {"format": "chat"}, dm=True)  # own rows in a DM
    [(name, data)] = answer.files.items()
    assert name.endswith(".jsonl") and b'"messages"' in data


async def test_slash_commands_work_in_a_dm(harness):
    await chat(harness, harness.alice, "from the server")
    stats = await slash(harness, harness.alice, "stats", dm=True)
    assert stats.embeds[0]["description"] == "Your conversations, from every server and DM"
    assert fields(stats)["Total conversations"] == "1"
    history = await slash(harness, harness.alice, "history", dm=True)
    assert history.ephemeral and "from the server" in next(iter(fields(history).values()))


async def test_forget_button_only_the_caller_can_press(harness):
    await chat(harness, harness.alice, "forget me", "and me")
    prompt = await slash(harness, harness.alice, "forget")
    assert prompt.ephemeral and "2 logged exchanges" in prompt.content and "Confirm" in prompt.content
    interactions = harness.discord.interactions

    not_yours = await interactions.press(harness.bob, prompt)
    [refusal] = not_yours.messages
    assert refusal.ephemeral and "not yours" in refusal.content
    assert len(harness.rows()) == 2 and prompt.components  # nothing happened; the button is still there

    pressed = await interactions.press(harness.alice, prompt)
    assert pressed.callback_type == 7 and prompt.components == []  # the button goes away
    forget = next(i for i in interactions.by_id.values() if i.original is prompt)
    await interactions.wait_for_answers(forget, 2)
    done = forget.messages[1]
    assert done.ephemeral and done.content == "Done: deleted 2 exchanges and 4 memory entries."
    assert harness.rows() == [] and memory_turns(harness.settings, harness.alice.id) == 0


async def test_forget_button_times_out_and_is_removed(harness):
    with_settings(harness, confirm_seconds=0.3)
    await chat(harness, harness.alice, "keep me")
    interaction = await harness.discord.user_slash(harness.alice, "forget", replies=2)
    prompt, answer = interaction.messages
    assert answer.content == "Not confirmed in time: nothing was deleted." and answer.ephemeral
    assert prompt.components == []  # edited away through PATCH @original
    assert len(harness.rows()) == 1


async def test_help_lists_the_commands_both_ways(harness):
    [prefixed] = await harness.say(harness.alice, "!help")
    slashed = await slash(harness, harness.alice, "help")
    assert slashed.content == prefixed.content.replace("!help", "/help")
    assert "history" in slashed.content and "Type /help command" in slashed.content
    sections = [line for line in slashed.content.splitlines() if line.endswith(":")]
    assert sections == ["Conversations:", "Help:", "Privacy:"]  # forget sits with privacy, help on its own


async def test_refusals_to_non_owners_are_the_same_both_ways(harness):
    [prefixed] = await harness.say(harness.bob, "!stats all")
    slashed = await slash(harness, harness.bob, "stats", {"where": "all"})
    assert slashed.content == prefixed.content and "only for the bot's owners" in slashed.content


async def test_help_for_one_command_both_ways(harness):
    [prefixed] = await harness.say(harness.alice, "!help stats")
    slashed = await slash(harness, harness.alice, "help", {"command": "stats"})
    assert slashed.content == prefixed.content.replace("!", "/")
    assert "Conversation statistics of this server" in slashed.content


async def test_export_files_are_the_same_both_ways(harness):
    await chat(harness, harness.alice, "one", "two")
    await chat(harness, harness.bob, "three")
    for _ in range(100):  # the reply's id is stored just after the reply is sent
        if all(row["reply_message_id"] for row in harness.rows()):
            break
        await asyncio.sleep(0.02)
    for fmt in ("csv", "jsonl", "chat", "openai", "bedrock", "kto"):
        [prefixed] = await harness.say(harness.admin, f"!export {fmt}")
        slashed = await slash(harness, harness.admin, "export", {"format": fmt})
        assert slashed.content == prefixed.content
        assert list(slashed.files.values()) == list(prefixed.files.values()), fmt


async def test_forget_someone_else_is_refused_for_a_plain_member_both_ways(harness):
    await chat(harness, harness.alice, "mine")
    [prefixed] = await harness.say(harness.bob, f"!forget {harness.alice.id}")
    slashed = await slash(harness, harness.bob, "forget", {"user": harness.alice})
    assert slashed.ephemeral and slashed.content == prefixed.content
    assert (
        "only the bot's owners and server admins (Manage Server) can forget someone else" in slashed.content
        and len(harness.rows()) == 1
    )
    prompt = await slash(harness, harness.admin, "forget", {"user": harness.alice})
    assert f"user {harness.alice.id}'s 1 logged exchanges in this server" in prompt.content
