"""A community's log, made up: servers with channels, DMs, users of very unequal activity, conversations of
several turns (some continued as Discord replies), ratings, attachments, fallbacks, cut and refused
replies, and masked personal data, over the last DAYS days with a daily rhythm and steady growth."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from bot.core.responder import FALLBACK_TEXT, LENGTH_NOTE, REFUSAL, REFUSAL_TEXT
from bot.core.responder import MAX_TOKENS as MAX_TOKENS_STOP
from bot.demo import text
from bot.demo.words import SYLLABLES
from bot.store import Exchange
from bot.store.attachment_column import REFUSED, SENT
from bot.store.exchange import FALLBACK_MODEL

DAY_S = 86400
DISCORD_EPOCH_MS = 1_420_070_400_000  # Discord's snowflakes count milliseconds from 2015-01-01
SERVERS = 4
CHANNELS_PER_SERVER = 4
ROWS_PER_USER = 40  # 20,000 rows: 500 people
USERS_MIN, USERS_MAX = 30, 5000
DM_SHARE = 0.1
MORE_TURNS = 0.55  # each turn is followed by another with this chance: about 2.2 turns a conversation
MAX_TURNS = 8
REPLY_CHAIN_SHARE = 0.4  # later turns sent as a Discord reply to the bot's previous answer
MODELS = {"claude-haiku-4-5": 70, "claude-sonnet-4-5": 20, "claude-opus-4-1": 7, FALLBACK_MODEL: 3}
TURN_TOKENS = 180  # the context one earlier turn adds to a request
MAX_TOKENS = 1024  # BOT_MAX_TOKENS's default: a reply cut there says stop_reason max_tokens
CUT_SHARE, REFUSAL_SHARE = 0.01, 0.003
ATTACHMENT_SHARE, REFUSED_FILE_SHARE = 0.03, 0.2
MASKED_SHARE = 0.01  # messages stored with BOT_REDACT's masks
RATED_SHARE, UP_SHARE, SECOND_RATER_SHARE = 0.1, 0.8, 0.2
TEXTS = 4000  # question-and-answer pairs made once and drawn from: filling templates per row costs 3 s per 100k
# People chat in the evening (UTC, one weight per hour) and a little more at weekends.
HOURLY = [3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 7, 7, 8, 9, 10, 12, 13, 13, 11, 8, 5]
WEEKEND = 1.3
GROWTH = 1.0  # the last day is 1 + GROWTH times as busy as the first
ACTIVITY_S = 0.9  # Zipf's exponent of people's activity: with 500 people the busiest writes 11% of the log


@dataclass(frozen=True)
class Person:
    user_id: str
    user_name: str
    display_name: str
    server: int
    dm_channel: str


@dataclass(frozen=True)
class Answer:
    """The bot's side of an exchange; a static fallback has no tokens and no stop reason."""

    text: str
    latency_ms: int
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


@dataclass
class Turn:
    """One generated exchange, the id of the bot's reply, and the ratings people gave that reply."""

    exchange: Exchange
    reply_message_id: str
    ratings: list[tuple[str, str, int, str]] = field(default_factory=list)


def snowflake(seconds: float, sequence: int) -> str:
    return str((int(seconds * 1000) - DISCORD_EPOCH_MS) << 22 | sequence % (1 << 22))


class SampleLog:
    """`count` exchanges, the same for the same seed and end (UTC seconds)."""

    def __init__(self, count: int, seed: int = 1, days: int = 90, end: float | None = None) -> None:
        self.count, self.days = count, days
        self.rng = random.Random(seed)
        self.end = end or time.time()
        self.sequence = 0
        users = min(USERS_MAX, max(USERS_MIN, count // ROWS_PER_USER))
        self.people = [self._person(n) for n in range(users)]
        self.activity = list(accumulate(1 / rank**ACTIVITY_S for rank in range(1, users + 1)))
        self.texts = [text.exchange(self.rng, 1 + n % 3) for n in range(TEXTS)]
        self.models = list(accumulate(MODELS.values()))
        self.channels = [
            [snowflake(self.end - 400 * DAY_S, 1000 * s + c) for c in range(CHANNELS_PER_SERVER)]
            for s in range(SERVERS)
        ]
        self.servers = [snowflake(self.end - 500 * DAY_S, s) for s in range(SERVERS)]

    def _person(self, n: int) -> Person:
        name = "".join(self.rng.choices(SYLLABLES, k=self.rng.randint(2, 3)))
        display = f"{name.capitalize()} {self.rng.choice(SYLLABLES).upper()[0]}."
        joined = self.end - self.rng.uniform(100, 3000) * DAY_S
        return Person(snowflake(joined, n), f"{name}{n}", display, n % SERVERS, snowflake(joined + DAY_S, n))

    def turns(self) -> Iterator[Turn]:
        for start, length in self._plan():
            yield from self._conversation(start, length)

    def _plan(self) -> list[tuple[float, int]]:
        """Each conversation's start, in order, and its number of turns, `count` turns in all."""
        lengths, left = [], self.count
        while left > 0:
            lengths.append(min(conversation_length(self.rng), left))
            left -= lengths[-1]
        return list(zip(self._starts(len(lengths)), lengths, strict=True))

    def _starts(self, wanted: int) -> list[float]:
        first_day = self.end - self.days * DAY_S
        days = range(self.days)
        day_weights = [(1 + GROWTH * d / self.days) * (WEEKEND if (d + 3) % 7 >= 5 else 1) for d in days]
        picked_days = self.rng.choices(days, weights=day_weights, k=wanted)
        hours = self.rng.choices(range(24), weights=HOURLY, k=wanted)
        return sorted(
            first_day + d * DAY_S + h * 3600 + self.rng.uniform(0, 3600)
            for d, h in zip(picked_days, hours, strict=True)
        )

    def _conversation(self, start: float, length: int) -> Iterator[Turn]:
        person = self.rng.choices(self.people, cum_weights=self.activity)[0]
        in_dm = self.rng.random() < DM_SHARE
        channel = person.dm_channel if in_dm else self.rng.choice(self.channels[person.server])
        guild = None if in_dm else self.servers[person.server]
        conversation_id = f"demo-{snowflake(start, self.sequence)}"
        moment, previous_reply = start, None
        for turn in range(length):
            made = self._turn(person, channel, guild, conversation_id, moment, turn, previous_reply)
            yield made
            moment += self.rng.uniform(30, 300)
            previous_reply = made.reply_message_id

    def _turn(
        self,
        person: Person,
        channel: str,
        guild: str | None,
        conversation_id: str,
        moment: float,
        turn: int,
        previous_reply: str | None,
    ) -> Turn:
        rng = self.rng
        self.sequence += 2
        model = rng.choices(list(MODELS), cum_weights=self.models)[0]
        question, reply = rng.choice(self.texts)
        answer = (
            claude_answer(rng, turn, reply)
            if model != FALLBACK_MODEL
            else Answer(FALLBACK_TEXT, rng.randint(300, 20000))
        )
        replying = previous_reply if previous_reply and rng.random() < REPLY_CHAIN_SHARE else None
        reply_id = snowflake(moment + 2, self.sequence + 1)
        exchange = Exchange(
            user_id=person.user_id,
            user_name=person.user_name,
            display_name=person.display_name,
            channel_id=channel,
            guild_id=guild,
            user_message=user_message(self.rng, question),
            bot_response=answer.text,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            latency_ms=answer.latency_ms,
            stop_reason=answer.stop_reason,
            cache_creation_input_tokens=answer.cache_creation_input_tokens,
            cache_read_input_tokens=answer.cache_read_input_tokens,
            model_used=model,
            message_id=snowflake(moment, self.sequence),
            timestamp=utc_text(moment),
            conversation_id=conversation_id,
            attachments=attachments(rng, moment, self.sequence) if rng.random() < ATTACHMENT_SHARE else None,
            reply_to_message_id=replying,
        )
        return Turn(exchange, reply_id, self._ratings(person, reply_id, moment))

    def _ratings(self, person: Person, reply_id: str, moment: float) -> list[tuple[str, str, int, str]]:
        if self.rng.random() >= RATED_SHARE:
            return []
        raters = [person.user_id]
        if self.rng.random() < SECOND_RATER_SHARE:
            raters.append(self.rng.choice(self.people).user_id)
        at = utc_text(moment + 60)
        return [(reply_id, rater, 1 if self.rng.random() < UP_SHARE else -1, at) for rater in dict.fromkeys(raters)]


def conversation_length(rng: random.Random) -> int:
    """Turns in one conversation: one more with chance MORE_TURNS each time, MAX_TURNS at most."""
    length = 1
    while length < MAX_TURNS and rng.random() < MORE_TURNS:
        length += 1
    return length


def user_message(rng: random.Random, question: str) -> str:
    """The question, with a masked detail (as the redactor leaves it) in MASKED_SHARE of them."""
    message = question
    if rng.random() < MASKED_SHARE:
        message += rng.choice([" You can reach me at [email].", " My number is [phone].", " Key: [secret]"])
    return message


def utc_text(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def attachments(rng: random.Random, moment: float, sequence: int) -> str:
    """The `attachments` column of a message with one file: an image Claude saw, or a file it cannot read."""
    refused = rng.random() < REFUSED_FILE_SHARE
    name, kind = ("notes.zip", "application/zip") if refused else ("screenshot.png", "image/png")
    url = f"https://cdn.discordapp.com/attachments/{snowflake(moment, sequence)}/{name}"
    reason = "I can only look at images (PNG, JPEG, GIF or WebP) and text files" if refused else None  # the bot's words
    file = {"name": name, "type": kind, "size": rng.randint(20_000, 900_000), "url": url}
    return json.dumps([{**file, "status": REFUSED if refused else SENT, "reason": reason}])


def claude_answer(rng: random.Random, turn: int, answer: str) -> Answer:
    """Usage and stop reason of a Claude reply; the context grows with each turn of the conversation."""
    roll = rng.random()
    stop = MAX_TOKENS_STOP if roll < CUT_SHARE else REFUSAL if roll < CUT_SHARE + REFUSAL_SHARE else "end_turn"
    output = MAX_TOKENS if stop == MAX_TOKENS_STOP else rng.randint(60, 700)
    reply = REFUSAL_TEXT if stop == REFUSAL else answer
    if stop == MAX_TOKENS_STOP:  # the bot's own note, as its responder adds it
        reply += LENGTH_NOTE.format(limit=MAX_TOKENS)
    latency_ms = int(400 + output * rng.uniform(4, 12))
    # The earlier turns come from the prompt cache, and the last one is written to it for the next.
    cached = TURN_TOKENS * turn
    written = TURN_TOKENS if turn else 0
    return Answer(reply, latency_ms, 40 + rng.randint(0, 120), output, stop, written, max(0, cached - TURN_TOKENS))
