"""Fine-tuning exports, one JSON object per line, from rows ordered by conversation then time:

- openai: {"messages": [...]} per conversation; an assistant turn rated down (net 👎) has "weight": 0;
- bedrock: Claude fine-tuning on Amazon Bedrock, {"system"?, "messages"} and no other key, messages
  starting with user, alternating, ending with assistant, every content non-empty;
- kto: TRL's unpaired preference format, one line per rated reply:
  {"prompt": [the conversation so far], "completion": [the reply], "label": net 👍 (true) or net 👎 (false)}.

An exchange with an empty message or reply (a bare mention), or a static fallback reply, is not
training data: it is dropped, and its conversation continues without it.

A line holds turns answered with one system prompt version (m021's `system_prompts`): a conversation
that spans a change of BOT_SYSTEM_PROMPT becomes one line per version. With a system prompt asked for,
each line carries that version's text from the log, never today's setting; turns logged before the log
kept prompts (request_state 'unknown') get no system prompt rather than a guessed one.

A reply Claude did not finish (stop_reason max_tokens, model_context_window_exceeded or refusal,
see INCOMPLETE_STOPS) is never learned from: openai keeps it as context with "weight": 0; bedrock,
which has no weights, leaves the turn out; kto keeps it as context of later replies but never
makes it a completion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any

from bot.store.exchange import FALLBACK_MODEL, INCOMPLETE_STOPS, Row

FINETUNE_FORMATS = ("openai", "bedrock", "kto")
RATING_COLUMN = "rating"  # net 👍 minus 👎 of a reply, None when nobody rated it

Rows = Iterator[Sequence[Any]]  # the header, then the rows (Reads.export_rows)
Message = dict[str, Any]  # {"role", "content"} and, in openai, "weight"


def conversation_key(exchange: Row) -> tuple[str, object]:
    """A conversation, and the version of the system prompt its turns were answered with (m021)."""
    return exchange["conversation_id"] or f"exchange-{exchange['id']}", exchange["system_prompt_id"]


def grouped(rows: Rows) -> Iterator[tuple[str, list[Row]]]:
    """Each conversation's exchanges, one group per system prompt version, with the conversation's id."""
    header = next(rows)
    exchanges = (dict(zip(header, row, strict=True)) for row in rows)
    for (key, _), turns in groupby(exchanges, key=conversation_key):
        yield key, list(turns)


def conversations(rows: Rows) -> Iterator[list[Row]]:
    """The usable exchanges of each conversation, in order; conversations left empty are skipped."""
    for _, turns in grouped(rows):
        usable = [turn for turn in turns if _usable(turn)]
        if usable:
            yield usable


def _usable(turn: Row) -> bool:
    return bool(
        (turn["user_message"] or "").strip()
        and (turn["bot_response"] or "").strip()
        and turn["model_used"] != FALLBACK_MODEL
    )


def incomplete(turn: Row) -> bool:
    """Claude stopped this reply before its end: cut at a limit, or refused."""
    return turn.get("stop_reason") in INCOMPLETE_STOPS


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def logged_prompt(turns: list[Row], system_prompt: bool) -> str | None:
    """The system prompt these turns were answered with, when asked for and the log knows it."""
    return turns[0]["system_prompt_text"] if system_prompt else None


def _system(turns: list[Row], system_prompt: bool) -> list[Message]:
    text = logged_prompt(turns, system_prompt)
    return [{"role": "system", "content": text}] if text else []


def _pair(turn: Row) -> list[Message]:
    return [{"role": "user", "content": turn["user_message"]}, {"role": "assistant", "content": turn["bot_response"]}]


def openai_records(rows: Rows, system_prompt: bool = False) -> Iterator[bytes]:
    for turns in conversations(rows):
        messages = _system(turns, system_prompt)
        for turn in turns:
            user, assistant = _pair(turn)
            if (turn[RATING_COLUMN] or 0) < 0 or incomplete(turn):
                assistant["weight"] = 0  # rated down, cut or refused: kept as context, not learned
            messages += [user, assistant]
        yield _line({"messages": messages})


def bedrock_records(rows: Rows, system_prompt: bool = False) -> Iterator[bytes]:
    for turns in conversations(rows):
        whole = [turn for turn in turns if not incomplete(turn)]  # no weights here: a cut turn is left out
        if not whole:
            continue
        text = logged_prompt(turns, system_prompt)
        record: dict[str, Any] = {"system": text} if text else {}
        record["messages"] = [message for turn in whole for message in _pair(turn)]
        yield _line(record)


def kto_records(rows: Rows, system_prompt: bool = False) -> Iterator[bytes]:
    """One line per reply with a net rating; a tie (as many 👍 as 👎) says nothing and is left out."""
    for turns in conversations(rows):
        context = _system(turns, system_prompt)
        for turn in turns:
            user, assistant = _pair(turn)
            if turn[RATING_COLUMN] and not incomplete(turn):
                yield _line({"prompt": [*context, user], "completion": [assistant], "label": turn[RATING_COLUMN] > 0})
            context = [*context, user, assistant]


BUILDERS = {"openai": openai_records, "bedrock": bedrock_records, "kto": kto_records}
