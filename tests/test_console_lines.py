"""bot/console/lines.py on its own: which lines are text, and which the terminal cut."""

from __future__ import annotations

import re
import readline

import pytest

from bot.console.lines import TTY_LINE_LIMIT, LineReader, Refused, screen

TEXT = ["plain", "tab\there", "a pasted\nsecond line", "café 👍🏽 👨‍👩‍👧", "\u200bzero width is format, not control"]


@pytest.mark.parametrize("line", TEXT)
def test_text_passes(line):
    screen(line)  # raises on anything refused
    assert LineReader(read=lambda _prompt: line)("you> ") == line


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("abc\x1b[D", "column 4 holds U+001B"),
        ("\x0c!stats", "column 1 holds U+000C"),
        ("bell\x07", "column 5 holds U+0007"),
        ("del\x7f", "column 4 holds U+007F"),
        ("crlf\r", "column 5 holds U+000D"),
        ("c1\x9b", "column 3 holds U+009B"),
        ("bad \udcff byte", "column 5 holds U+DCFF (a byte that is not text)"),
    ],
)
def test_control_characters_are_refused_by_column(line, named):
    with pytest.raises(Refused, match=re.escape(named)):
        LineReader(read=lambda _prompt: line)("you> ")


def test_a_canonical_tty_line_at_the_limit_is_refused_in_bytes_not_characters():
    two_byte = "é" * (TTY_LINE_LIMIT // 2 + 1)  # 2,048 characters, 4,096 bytes
    with pytest.raises(Refused, match="4,095 bytes"):
        LineReader(read=lambda _prompt: two_byte, canonical=True)("you> ")
    assert LineReader(read=lambda _prompt: two_byte)("you> ") == two_byte  # piped or edited: no limit
    short = "x" * (TTY_LINE_LIMIT - 1)
    assert LineReader(read=lambda _prompt: short, canonical=True)("you> ") == short


def test_undecodable_input_is_refused():
    def read(_prompt: str) -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    with pytest.raises(Refused, match="not utf-8 text"):
        LineReader(read=read)("you> ")


def typed(*lines: str):
    """A read that does what input() does under readline: adds a non-empty line to the history."""
    pending = list(lines)

    def read(_prompt: str) -> str:
        if not pending:
            raise EOFError
        line = pending.pop(0)
        if line:
            readline.add_history(line)
        return line

    return read


def history() -> list[str]:
    return [readline.get_history_item(n) for n in range(1, readline.get_current_history_length() + 1)]


def test_history_keeps_messages_and_commands_not_refused_lines_or_answers():
    readline.clear_history()
    reader = LineReader(read=typed("!forget", "yes", "bad\x1b[A", "", "hello"), edited=True)
    assert reader("you> ") == "!forget"
    assert reader("yes/no> ", remembered=False) == "yes"
    with pytest.raises(Refused):
        reader("you> ")
    assert reader("yes/no> ", remembered=False) == ""  # nothing added: nothing else removed
    assert reader("you> ") == "hello"
    with pytest.raises(EOFError):
        reader("yes/no> ", remembered=False)
    assert history() == ["!forget", "hello"]
