"""Security and tenancy, probed as an attacker would: a member of this server, a manager of another
server, a plain user in a DM, and the bot's owner. Every hole found is a test here.

Two servers on the fake Discord: A (the first, with alice, bob and modmin, who manages A) and
B (with carol, bmod, who manages B, and alice again). `owner` is in BOT_ADMIN_IDS.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace

import pytest

from tests.support.fake_discord import FakeGuild, FakeUser, SentMessage
from tests.support.harness import Harness, ask_to_forget, running_bot

A_SECRET = "alpha secret about penguins"
B_NOTE = "bravo note from carol"
ALICE_IN_B = "alice speaking in bravo"
ALICE_DM = "alice private dm"
BOB_IN_A = "bob talking in alpha"


@dataclass
class TwoServers:
    h: Harness
    b: FakeGuild
    carol: FakeUser
    bmod: FakeUser
    owner: FakeUser

    async def say(
        self,
        user: FakeUser,
        text: str,
        *,
        in_b: bool = False,
        dm: bool = False,
        mention: bool = False,
        replies: int = 1,
    ) -> list[SentMessage]:
        where = {"dm": True} if dm else {"guild": self.b} if in_b else {}
        return await self.h.say(user, text, replies=replies, mention_bot=mention, **where)

    def messages(self) -> set[str]:
        return {row["user_message"] for row in self.h.rows()}


@pytest.fixture
async def two(settings, discord_server, claude, members):
    alice, bob, modmin = members
    b = discord_server.add_guild("Server B")
    carol = discord_server.add_member("carol", guild=b)
    bmod = discord_server.add_member("bmod", admin=True, guild=b)
    discord_server.join(alice, b)
    owner = discord_server.add_member("botowner")
    settings = replace(settings, owner_ids=frozenset({int(owner.id)}))
    async with running_bot(settings, discord_server) as (bot, service):
        two = TwoServers(
            Harness(discord_server, claude, settings, bot, service, alice, bob, modmin), b, carol, bmod, owner
        )
        await two.say(alice, A_SECRET, mention=True)
        await two.say(bob, BOB_IN_A, mention=True)
        await two.say(carol, B_NOTE, in_b=True, mention=True)
        await two.say(alice, ALICE_IN_B, in_b=True, mention=True)
        await two.say(alice, ALICE_DM, dm=True)
        yield two


def text_of(message: SentMessage) -> str:
    """Everything a message shows: its content, its embeds, and its attached files."""
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    parts += [data.decode("utf-8", "replace") for data in message.files.values()]
    return "\n".join(parts)


def exported_messages(message: SentMessage) -> set[str]:
    [(_name, data)] = message.files.items()
    return {row["user_message"] for row in csv.DictReader(io.StringIO(data.decode("utf-8")))}


def stats_field(message: SentMessage, name: str) -> str:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}[name]


# -- hole 1: identity comes from the Discord id, never from a name a user can choose -------------


async def test_a_nickname_equal_to_someone_elses_name_does_not_open_their_history(two):
    two.h.discord.join(two.h.bob, two.h.discord.guilds[0], nick="alice")
    [answer] = await two.say(two.h.bob, "!history alice")
    assert A_SECRET not in text_of(answer)
    assert "only the bot's owners and server admins (Manage Server) can see" in answer.content


async def test_a_nickname_equal_to_someone_elses_id_does_not_open_their_history(two):
    two.h.discord.join(two.h.bob, two.h.discord.guilds[0], nick=two.h.alice.id)
    [answer] = await two.say(two.h.bob, f"!history {two.h.alice.id}")
    assert A_SECRET not in text_of(answer)
    assert "only the bot's owners and server admins (Manage Server) can see" in answer.content


async def test_a_nickname_equal_to_someone_elses_display_name_does_not_open_their_history(two):
    two.h.discord.join(two.h.bob, two.h.discord.guilds[0], nick="Alice A.")
    [answer] = await two.say(two.h.bob, "!history Alice A.")
    assert A_SECRET not in text_of(answer)


async def test_your_own_username_or_id_shows_your_own_history(two):
    for query in ("alice", "ALICE", two.h.alice.id, f"<@{two.h.alice.id}>"):
        [answer] = await two.h.say(two.h.alice, f"!history {query}", mentions=[two.h.alice] * query.startswith("<"))
        assert A_SECRET in text_of(answer)
        assert BOB_IN_A not in text_of(answer)


# -- hole 2: one server's managers manage that server's data, and nothing else ------------------


async def test_a_manager_of_server_b_exports_only_server_b(two):
    [answer] = await two.say(two.bmod, "!export", in_b=True)
    assert exported_messages(answer) == {B_NOTE, ALICE_IN_B}


async def test_a_manager_of_server_b_sees_only_server_b_in_stats(two):
    [answer] = await two.say(two.bmod, "!stats", in_b=True)
    assert stats_field(answer, "Total conversations") == "2"
    assert stats_field(answer, "Unique users") == "2"


async def test_a_manager_of_server_b_reads_only_server_b_history(two):
    for query in ("alice", "Alice A.", two.h.alice.id):
        [answer] = await two.say(two.bmod, f"!history {query}", in_b=True)
        assert ALICE_IN_B in text_of(answer)
        assert A_SECRET not in text_of(answer) and ALICE_DM not in text_of(answer)
    [nobody] = await two.say(two.bmod, "!history bob", in_b=True)  # bob never spoke in B
    assert nobody.content == "No exchanges found for bob."


async def test_a_manager_of_server_b_forgets_only_server_b_rows(two):
    prompt = await ask_to_forget(two.h, two.bmod, f"!forget {two.h.alice.id}", guild=two.b)
    assert "1 logged exchanges" in prompt.content
    before = len(two.h.discord.sent)
    await two.h.discord.user_reacts(two.bmod, prompt, "✅")
    [done] = (await two.h.discord.wait_for_sent(before + 1))[before:]
    assert done.content.startswith("Done: deleted 1 exchanges")
    assert two.messages() == {A_SECRET, BOB_IN_A, B_NOTE, ALICE_DM}


async def test_a_manager_of_server_a_is_a_plain_member_in_server_b(two):
    two.h.discord.join(two.h.admin, two.b)
    [answer] = await two.say(two.h.admin, "!export", in_b=True)
    assert "only for the bot's owners (BOT_ADMIN_IDS) and server admins" in answer.content and not answer.files
    [history] = await two.say(two.h.admin, "!history carol", in_b=True)
    assert B_NOTE not in text_of(history)


async def test_only_owners_may_ask_for_every_server(two):
    for command in ("!stats all", "!export csv all", "!history all alice", f"!forget {two.h.alice.id} all"):
        [answer] = await two.say(two.bmod, command, in_b=True)
        assert "only for the bot's owners" in answer.content, command
        assert A_SECRET not in text_of(answer)


# -- owners reach everything, in a DM or with `all` ----------------------------------------------


async def test_an_owner_in_a_dm_gets_everything(two):
    [export] = await two.say(two.owner, "!export", dm=True)
    assert exported_messages(export) == {A_SECRET, BOB_IN_A, B_NOTE, ALICE_IN_B, ALICE_DM}
    [stats] = await two.say(two.owner, "!stats", dm=True)
    assert stats_field(stats, "Total conversations") == "5"
    [history] = await two.say(two.owner, "!history alice", dm=True)
    assert all(text in text_of(history) for text in (A_SECRET, ALICE_IN_B, ALICE_DM))


async def test_an_owner_in_a_server_sees_that_server_unless_asking_for_all(two):
    [here] = await two.say(two.owner, "!stats")
    assert stats_field(here, "Total conversations") == "2"
    [everywhere] = await two.say(two.owner, "!stats all")
    assert stats_field(everywhere, "Total conversations") == "5"
    [history] = await two.say(two.owner, "!history all alice")
    assert ALICE_DM in text_of(history) and ALICE_IN_B in text_of(history)


# -- a plain user in a DM sees their own data across servers, and nobody else's ------------------


async def test_a_plain_user_in_a_dm_sees_only_their_own(two):
    [history] = await two.say(two.h.alice, "!history", dm=True)
    assert all(text in text_of(history) for text in (A_SECRET, ALICE_IN_B, ALICE_DM))
    assert BOB_IN_A not in text_of(history) and B_NOTE not in text_of(history)
    [export] = await two.say(two.h.alice, "!export", dm=True)
    assert exported_messages(export) == {A_SECRET, ALICE_IN_B, ALICE_DM}
    [stats] = await two.say(two.h.alice, "!stats", dm=True)
    assert stats_field(stats, "Total conversations") == "3"
    assert stats_field(stats, "Unique users") == "1"
    [other] = await two.say(two.carol, "!history alice", dm=True)
    assert (
        "only the bot's owners and server admins (Manage Server) can see" in other.content
        and A_SECRET not in text_of(other)
    )


async def test_in_a_server_your_own_history_is_that_servers_only(two):
    """Asked in B's channel, alice's history must not show what she said in A or in a DM."""
    [answer] = await two.say(two.h.alice, "!history", in_b=True)
    assert ALICE_IN_B in text_of(answer)
    assert A_SECRET not in text_of(answer) and ALICE_DM not in text_of(answer)


async def test_forgetting_yourself_deletes_everything_of_yours(two):
    prompt = await ask_to_forget(two.h, two.h.alice, "!forget", guild=two.b)
    assert "3 logged exchanges" in prompt.content
    before = len(two.h.discord.sent)
    await two.h.discord.user_reacts(two.h.alice, prompt, "✅")
    await two.h.discord.wait_for_sent(before + 1)
    assert two.messages() == {BOB_IN_A, B_NOTE}


# -- names are resolved for admins only, and an ambiguous one is listed, never merged --------------


async def test_an_ambiguous_name_lists_the_candidates(two):
    dave = two.h.discord.add_member("dave", global_name="Sam")
    erin = two.h.discord.add_member("erin")
    two.h.discord.join(erin, two.h.discord.guilds[0], nick="Sam")
    await two.say(dave, "dave here", mention=True)
    await two.say(erin, "erin here", mention=True)
    [answer] = await two.say(two.h.admin, "!history sam")
    assert "dave here" not in text_of(answer) and "erin here" not in text_of(answer)
    assert dave.id in answer.content and erin.id in answer.content
    assert "dave" in answer.content and "erin" in answer.content


# -- hole 9: only the asker is pinged ------------------------------------------------------------


async def test_claude_cannot_make_the_bot_ping_anyone_but_the_asker(two):
    role = two.h.discord.guilds[0].admin_role_id
    two.h.claude.reply_text = lambda body: f"<@{two.h.bob.id}> <@&{role}> @everyone @here hello"
    [reply] = await two.say(two.h.alice, "ping them all", mention=True)
    assert f"<@{two.h.bob.id}>" in reply.content  # shown, but silent
    assert reply.pinged == {two.h.alice.id}


async def test_a_long_reply_pings_the_asker_once_and_nobody_else(two):
    two.h.claude.reply_text = lambda body: (f"<@{two.h.bob.id}> " + "word " * 600).strip()
    messages = await two.say(two.h.alice, "long one", mention=True, replies=2)
    assert [m.pinged for m in messages] == [{two.h.alice.id}, set()]


async def test_a_dm_reply_pings_nobody_else(two):
    two.h.claude.reply_text = lambda body: f"<@{two.h.bob.id}> @everyone"
    [reply] = await two.say(two.h.alice, "in private", dm=True)
    assert two.h.bob.id not in reply.pinged and "@everyone" not in reply.pinged


# -- the fake's mention rules are Discord's: without allowed_mentions, everything pings ------------


def test_the_fake_pings_as_discord_does():
    from tests.support.fake_discord import pinged

    assert pinged("<@1> <@&2> @everyone", None, "3") == {"1", "role:2", "@everyone", "3"}
    assert pinged("<@1> <@&2> @everyone", {"parse": [], "replied_user": True}, "3") == {"3"}
    assert pinged("<@1> <@4>", {"parse": [], "users": ["4"]}, None) == {"4"}


async def test_commands_are_answered_for_the_server_they_are_asked_in(two):
    """The same question in A and in B gets each server's own figures, in the same run."""
    [in_a] = await two.say(two.h.bob, "!stats")
    [in_b] = await two.say(two.carol, "!stats", in_b=True)
    assert (stats_field(in_a, "Total conversations"), stats_field(in_b, "Total conversations")) == ("2", "2")
    assert (stats_field(in_a, "Unique users"), stats_field(in_b, "Unique users")) == ("2", "2")
