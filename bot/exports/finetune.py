"""Fine-tuning exports, one JSON object per line, from rows ordered by conversation then time:

- openai: {"messages": [...]} per conversation; an assistant turn rated down (net 👎) has "weight": 0;
- bedrock: Claude fine-tuning on Amazon Bedrock, {"system"?, "messages"} and no other key, messages
  starting with user, alternating, ending with assistant, every content non-empty;
- kto: TRL's unpaired preference format, one line per rated reply:
  {"prompt": [the conversation so far], "completion": [the reply], "label": net 👍 (true) or net 👎 (false)}.

An exchange with an empty message or reply (a bare mention), or a static fallback reply, is not
training data: it is dropped, and its conversation continues without it.

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


def conversations(rows: Rows) -> Iterator[list[Row]]:
    """The usable exchanges of each conversation, in order; conversations left empty are skipped."""
    header = next(rows)
    exchanges = (dict(zip(header, row, strict=True)) for row in rows)
    for _, turns in groupby(exchanges, key=lambda e: e["conversation_id"] or f"exchange-{e['id']}"):
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


def _system(system_prompt: str | None) -> list[Message]:
    return [{"role": "system", "content": system_prompt}] if system_prompt else []


def _pair(turn: Row) -> list[Message]:
    return [{"role": "user", "content": turn["user_message"]}, {"role": "assistant", "content": turn["bot_response"]}]


def openai_records(rows: Rows, system_prompt: str | None = None) -> Iterator[bytes]:
    for turns in conversations(rows):
        messages = _system(system_prompt)
        for turn in turns:
            user, assistant = _pair(turn)
            if (turn[RATING_COLUMN] or 0) < 0 or incomplete(turn):
                assistant["weight"] = 0  # rated down, cut or refused: kept as context, not learned
            messages += [user, assistant]
        yield _line({"messages": messages})


def bedrock_records(rows: Rows, system_prompt: str | None = None) -> Iterator[bytes]:
    for turns in conversations(rows):
        whole = [turn for turn in turns if not incomplete(turn)]  # no weights here: a cut turn is left out
        if not whole:
            continue
        record: dict[str, Any] = {"system": system_prompt} if system_prompt else {}
        record["messages"] = [message for turn in whole for message in _pair(turn)]
        yield _line(record)


def kto_records(rows: Rows, system_prompt: str | None = None) -> Iterator[bytes]:
    """One line per reply with a net rating; a tie (as many 👍 as 👎) says nothing and is left out."""
    for turns in conversations(rows):
        context = _system(system_prompt)
        for turn in turns:
            user, assistant = _pair(turn)
            if turn[RATING_COLUMN] and not incomplete(turn):
                yield _line({"prompt": [*context, user], "completion": [assistant], "label": turn[RATING_COLUMN] > 0})
            context = [*context, user, assistant]


BUILDERS = {"openai": openai_records, "bedrock": bedrock_records, "kto": kto_records}
