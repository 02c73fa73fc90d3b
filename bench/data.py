"""Realistic generated conversations: ~200-char messages, ~600-char replies, 5k users, 4 models, a year,
words drawn by Zipf's law from a 20,000-word vocabulary."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

from bot.store import Exchange, migrate
from bot.store.sqlite import sqlite3

# The word lists stay a few words a line, not one a line.
# fmt: off
FUNCTION_WORDS = [
    "the", "a", "an", "and", "or", "but", "if", "then", "so", "because", "what", "why", "how", "when", "where",
    "who", "which", "this", "that", "these", "those", "is", "it", "to", "of", "in", "for", "on", "with", "you", "i",
    "we",
]
TOPIC_WORDS = [
    "bot", "discord", "server", "channel", "message", "reply", "model", "token", "claude", "answer", "question",
    "help", "please", "thanks", "python", "sqlite", "database", "export", "history", "stats", "memory", "context",
    "user", "admin", "game", "music", "movie", "book", "weather", "tomorrow", "today", "yesterday", "week", "month",
    "year", "time", "day", "night", "morning", "evening", "good", "great", "bad", "problem", "error", "fix", "code",
    "function", "class", "test", "deploy", "build", "run", "install", "update", "version", "release", "idea",
    "plan", "project", "team", "friend", "family", "school", "work", "home", "travel", "food", "coffee", "tea",
    "pizza", "cat", "dog", "penguin", "mountain", "river", "city", "country", "language", "english", "french",
    "german", "spanish", "learn", "teach", "read", "write", "draw", "paint", "play", "watch", "listen", "think",
    "know", "want", "need", "like", "love", "hate", "try", "make", "take", "give",
]
# fmt: on
MODELS = [
    "claude-haiku-4-5",
    "claude-haiku-4-5",
    "claude-haiku-4-5",
    "claude-sonnet-4-5",
    "claude-opus-4-1",
    "static_fallback",
]
COLUMNS = (
    "user_id",
    "user_name",
    "channel_id",
    "user_message",
    "bot_response",
    "timestamp",
    "tokens_used",
    "model_used",
    "guild_id",
    "display_name",
    "message_id",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "conversation_id",
)
YEAR = 365 * 24 * 3600


# fmt: off
SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "bo", "da", "fe", "gu", "hi", "ja", "ko", "lu", "ma",
    "no", "pe", "qui", "ra", "si", "tu", "ve", "wo", "xa", "yu", "zo",
]
# fmt: on
VOCABULARY_SIZE = 20_000
TOPIC_EVERY = 29  # made-up words between two topic words


def _vocabulary(rng: random.Random) -> list[str]:
    """Words by rank for a Zipf draw: the function words, then made-up words with a real topic
    word after every TOPIC_EVERY of them, so "discord" is in a fifth of the rows and "penguin" in 0.4%."""
    known = set(FUNCTION_WORDS) | set(TOPIC_WORDS)
    invented = sorted({"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(VOCABULARY_SIZE)} - known)
    rng.shuffle(invented)
    words = list(FUNCTION_WORDS)
    for n, word in enumerate(invented[: VOCABULARY_SIZE - len(known)]):
        if n % TOPIC_EVERY == 0 and n // TOPIC_EVERY < len(TOPIC_WORDS):
            words.append(TOPIC_WORDS[n // TOPIC_EVERY])
        words.append(word)
    return words


def _pool(rng: random.Random, size: int, chars: int) -> list[str]:
    # Zipf's law (s = 1.07): "the" is in nearly every message, a topic word in a few percent, and
    # most words in very few, so a search matches as many rows as it would in a real log.
    vocabulary = _vocabulary(rng)
    weights = list(accumulate(1 / rank**1.07 for rank in range(1, len(vocabulary) + 1)))
    stream = iter(rng.choices(vocabulary, cum_weights=weights, k=size * chars // 3))
    texts = []
    for _ in range(size):
        words, length = [], 0
        while length < chars:
            word = next(stream)
            words.append(word)
            length += len(word) + 1
        texts.append(" ".join(words).capitalize() + ".")
    return texts


def rows(count: int, seed: int = 7, end: float | None = None) -> Iterator[tuple[Any, ...]]:
    """`count` exchanges in time order over the year before `end`, as tuples in COLUMNS order."""
    rng = random.Random(seed)
    messages, replies = _pool(rng, 4000, 190), _pool(rng, 4000, 590)
    end = end or time.time()
    step = YEAR / max(count, 1)
    for n in range(count):
        user = int(rng.paretovariate(1.2)) % 5000
        model = MODELS[n % len(MODELS)]
        tokens_in, tokens_out = (0, 0) if model == "static_fallback" else (60 + n % 90, 150 + n % 200)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(end - YEAR + n * step))
        yield (
            str(100000 + user),
            f"user{user}",
            str(900 + user % 20),
            f"{messages[n % 4000]} #{n}",
            replies[(n * 7) % 4000],
            stamp,
            tokens_in + tokens_out,
            model,
            "800",
            f"User {user}",
            f"m{n}",
            tokens_in,
            tokens_out,
            400 + n % 900,
            f"c{user}-{n // 6}",
        )


def exchange(values: tuple[Any, ...]) -> Exchange:
    """A generated row as the bot hands it to the log (the log counts tokens_used itself)."""
    row = dict(zip(COLUMNS, values, strict=True))
    row.pop("tokens_used")
    return Exchange(**row)


def fresh(path: Path, fts: bool) -> None:
    """An empty migrated log at `path`, with nothing left of an earlier run (WAL, spools)."""
    for suffix in ("", "-wal", "-shm", ".spool.jsonl", ".spool.jsonl.reserve"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    build(path, 0, fts=fts)


def insert_sql(table: str = "conversations") -> str:
    return f"insert into {table} ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})"


def build(path: Path, count: int, *, fts: bool = True) -> float:
    """A migrated log holding `count` generated rows; returns the seconds the insert took."""
    migrate(path)
    conn = sqlite3.connect(path)
    if not fts:
        drop_fts_triggers(conn)
    started = time.perf_counter()
    with conn:
        conn.executemany(insert_sql(), rows(count))
    elapsed = time.perf_counter() - started
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    return elapsed


def drop_fts_triggers(conn: sqlite3.Connection) -> None:
    names = [
        r[0]
        for r in conn.execute(
            "select name from sqlite_master where type = 'trigger' and sql like '%conversations_fts%'"
        )
    ]
    for name in names:
        conn.execute(f"drop trigger {name}")
