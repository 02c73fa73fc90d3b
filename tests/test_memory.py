"""Short-term memory on a real bot_memory.db: last N turns, time-to-live, threads."""

from __future__ import annotations

import pytest
from sqlite_utils import Database

from bot.core.memory import Memory


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def talk(memory: Memory, user: str, n: int, channel: str = "c") -> str:
    context = memory.context(channel, user)
    memory.remember(channel, user, context.conversation_id, f"q{n}", f"a{n}", message_id=f"{user}-{n}")
    return context.conversation_id


def test_keeps_the_last_n_turns_oldest_first(tmp_path):
    memory = Memory(tmp_path / "m.db", turns=3, max_turns=3).open()  # no growth: the window slides
    for n in range(5):
        talk(memory, "u", n)
    messages = memory.context("c", "u").messages
    assert [m["content"] for m in messages] == ["q2", "a2", "q3", "a3", "q4", "a4"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3
    with Database(tmp_path / "m.db") as db:  # the file itself, as another reader sees it
        stored = db.execute("select count(*) from turns").fetchone()[0]
    assert stored == 6  # pruned, not just hidden


def test_threads_are_per_channel_and_user_and_expire(tmp_path):
    clock = Clock()
    memory = Memory(tmp_path / "m.db", turns=10, ttl_minutes=30, clock=clock).open()
    first = talk(memory, "u", 1)
    assert talk(memory, "u", 2) == first
    assert memory.context("c", "other").messages == []
    assert memory.context("elsewhere", "u").messages == []

    clock.now += 31 * 60
    expired = memory.context("c", "u")
    assert expired.messages == [] and expired.conversation_id != first


def test_forget_one_user(tmp_path):
    memory = Memory(tmp_path / "m.db").open()
    talk(memory, "u", 1)
    talk(memory, "v", 1)
    assert memory.forget("u") == 2
    assert memory.context("c", "u").messages == []
    assert len(memory.context("c", "v").messages) == 2


def test_memory_persists_across_reopen(tmp_path):
    memory = Memory(tmp_path / "m.db").open()
    thread = talk(memory, "u", 1)
    memory.close()
    again = Memory(tmp_path / "m.db").open()
    assert again.context("c", "u").conversation_id == thread


def sent(memory: Memory, user: str = "u") -> list[str]:
    """The contents the next request of `user`'s thread would carry as context."""
    return [str(m["content"]) for m in memory.context("c", user).messages]


def test_the_window_grows_to_the_maximum_then_trims_back_in_one_step(tmp_path):
    """The defaults (BOT_MEMORY_TURNS 10, BOT_MEMORY_MAX_TURNS 20): 0 to 20 exchanges sent, then 10 again;
    between trims each window starts where the last one did, so the prefix Claude caches stays."""
    memory = Memory(tmp_path / "m.db").open()
    sizes, starts = [], []
    for n in range(32):
        context = sent(memory)
        sizes.append(len(context) // 2)
        starts.append(context[0] if context else "")
        talk(memory, "u", n)
    assert sizes == list(range(21)) + list(range(10, 21))  # the 21st exchange trims 20 back to the last 10
    assert set(starts[1:21]) == {"q0"} and set(starts[21:]) == {"q11"}  # one move of the start, not eleven
    with Database(tmp_path / "m.db") as db:
        assert db.execute("select count(*) from turns").fetchone()[0] == 2 * 21 - 2 * 11  # trimmed in the file


def test_an_expired_turn_trims_its_thread_to_the_last_n_at_once(tmp_path):
    """Without it a long thread would lose one turn to age each turn: a window sliding by one again."""
    clock = Clock()
    memory = Memory(tmp_path / "m.db", turns=3, max_turns=6, ttl_minutes=30, clock=clock).open()
    for n in range(5):  # one a minute: q0 at 0, q4 at 4 minutes
        talk(memory, "u", n)
        clock.now += 60
    clock.now += 30 * 60 - 5 * 60 + 1  # q0 is 30 minutes and a second old; q1 to q4 are live
    assert sent(memory)[::2] == ["q2", "q3", "q4"]  # trimmed to 3, not slid to q1..q4
    talk(memory, "u", 5)
    assert sent(memory)[::2] == ["q2", "q3", "q4", "q5"]  # and grows again from there


def test_a_maximum_under_the_minimum_is_refused(tmp_path):
    with pytest.raises(ValueError, match="max_turns"):
        Memory(tmp_path / "m.db", turns=10, max_turns=5)


def test_forget_empties_a_grown_window_and_the_next_thread_starts_small(tmp_path):
    memory = Memory(tmp_path / "m.db").open()
    for n in range(15):  # past BOT_MEMORY_TURNS, under the maximum: 15 exchanges kept
        talk(memory, "u", n)
    before = memory.context("c", "u").conversation_id
    assert memory.forget("u") == 30  # every kept turn of the grown window, not only the last 10
    after = memory.context("c", "u")
    assert after.messages == [] and after.conversation_id != before
    talk(memory, "u", 15)
    assert sent(memory) == ["q15", "a15"]
