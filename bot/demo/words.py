"""Words for generated conversations: the sample log of `python -m bot demo` and the benchmarks' logs
(bench/data.py), drawn by Zipf's law from a 20,000-word vocabulary so searches match as many rows as in
a real log."""

from __future__ import annotations

import random
from itertools import accumulate

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
SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "bo", "da", "fe", "gu", "hi", "ja", "ko", "lu", "ma",
    "no", "pe", "qui", "ra", "si", "tu", "ve", "wo", "xa", "yu", "zo",
]
# fmt: on
VOCABULARY_SIZE = 20_000
TOPIC_EVERY = 29  # made-up words between two topic words
ZIPF_S = 1.07  # "the" in nearly every message, a topic word in a few percent, most words in very few


def vocabulary(rng: random.Random) -> list[str]:
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


def pool(rng: random.Random, size: int, chars: int) -> list[str]:
    """`size` texts of about `chars` characters, their words drawn by Zipf's law from vocabulary()."""
    words_by_rank = vocabulary(rng)
    weights = list(accumulate(1 / rank**ZIPF_S for rank in range(1, len(words_by_rank) + 1)))
    stream = iter(rng.choices(words_by_rank, cum_weights=weights, k=size * chars // 3))
    texts = []
    for _ in range(size):
        words, length = [], 0
        while length < chars:
            word = next(stream)
            words.append(word)
            length += len(word) + 1
        texts.append(" ".join(words).capitalize() + ".")
    return texts
