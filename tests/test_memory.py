"""Short-term memory on a real bot_memory.db: last N turns, time-to-live, threads."""

from __future__ import annotations

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
    memory = Memory(tmp_path / "m.db", turns=3).open()
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
