"""The console in a real pseudo-terminal: what the operator types is what the permanent log keeps.

Each test runs `python -m bot console` on a pty (tests/support/terminal.py) against the fake Claude,
types as a terminal does, then reads the real SQLite log.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import termios

import pytest

from tests.support import PROJECT
from tests.support.processes import clean_env, logged, run_bot_cli
from tests.support.terminal import (
    CTRL_C,
    CTRL_L,
    ENTER,
    LEFT,
    PASTE_END,
    PASTE_START,
    TAB,
    UP,
    Terminal,
)

pytestmark = pytest.mark.slow  # every test here starts a real process

LOCAL_MODES = 3  # termios.tcgetattr's list: iflag, oflag, cflag, lflag, ...
ABORTED = 1  # click.Abort's exit status
LONG_LINE = "".join(f"{n:05d}," for n in range(834))[:5000]  # numbered, so a cut or a reorder shows


def env_for(tmp_path, claude) -> dict[str, str]:
    return clean_env(tmp_path, ANTHROPIC_API_KEY=claude.api_key, ANTHROPIC_BASE_URL=claude.url, BOT_API_MAX_RETRIES="0")


async def console(tmp_path, claude) -> Terminal:
    return await Terminal.start(env_for(tmp_path, claude), cwd=tmp_path)


def sent_to_claude(claude) -> list[str]:
    return [body["messages"][-1]["content"] for body in claude.requests]


async def test_arrow_keys_ctrl_l_and_history_edit_the_line_and_never_reach_the_log(tmp_path, claude):
    term = await console(tmp_path, claude)
    await term.line("abc" + LEFT + LEFT + "X")  # the cursor moves back two: aXbc
    await term.expect("Echo #1: aXbc")
    await term.line(CTRL_L + "!sta" + TAB)  # Ctrl-L clears the screen, Tab completes the command
    await term.expect("Total conversations: 1")
    await term.line(UP + UP)  # history: the line before !stats, sent again
    await term.expect("Echo #2: aXbc")
    assert await term.close() == 0

    assert logged(tmp_path) == ["aXbc", "aXbc"]
    assert sent_to_claude(claude) == ["aXbc", "aXbc"]


async def test_a_pasted_block_keeps_its_lines_and_loses_its_paste_markers(tmp_path, claude):
    """A terminal wraps a paste in bracketed-paste markers (ESC [200~ ... ESC [201~); readline takes them."""
    term = await console(tmp_path, claude)
    await term.line(PASTE_START + "first line\nsecond line" + PASTE_END)
    await term.expect("Echo #1: first line")
    assert await term.close() == 0

    assert logged(tmp_path) == ["first line\nsecond line"]


async def test_a_5000_character_line_reaches_the_log_whole(tmp_path, claude):
    assert len(LONG_LINE) == 5000
    term = await console(tmp_path, claude)
    await term.line(LONG_LINE)
    await term.expect("Echo #1: 00000,")
    assert await term.close() == 0

    assert logged(tmp_path) == [LONG_LINE]


async def test_a_line_the_terminal_would_cut_is_refused_when_readline_is_off(tmp_path, claude):
    """stdout to a file: Python reads the tty in canonical mode, which keeps 4,095 bytes of a line."""
    master, slave = os.openpty()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        os.devnull,
        "console",
        cwd=tmp_path,
        env={**env_for(tmp_path, claude), "PYTHONPATH": str(PROJECT)},
        stdin=slave,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    os.close(slave)
    os.write(master, b"short one" + ENTER.encode())
    for start in range(0, len(LONG_LINE), 512):
        os.write(master, LONG_LINE[start : start + 512].encode())
        await asyncio.sleep(0.01)
    os.write(master, ENTER.encode() + b"!quit" + ENTER.encode())
    out, err = await asyncio.wait_for(process.communicate(), 60)
    os.close(master)

    assert process.returncode == 0, err.decode()
    assert "4,095" in out.decode() and "not sent, not logged" in out.decode()
    assert logged(tmp_path) == ["short one"]


async def test_forget_deletes_the_console_users_rows_and_is_itself_neither_sent_nor_logged(tmp_path, claude):
    term = await console(tmp_path, claude)
    await term.line("remember me")
    await term.expect("Echo #1: remember me")
    await term.line("!forget")
    await term.expect("permanently deletes your 1 logged exchanges")
    await term.line("yes", prompt="yes/no> ")
    await term.expect("Done: deleted 1 exchanges")
    await term.line(UP)  # the history holds !forget, not the answer: a "yes" sent to Claude would be logged
    await term.line("no", prompt="yes/no> ")
    await term.expect("Not confirmed: nothing was deleted.")
    assert await term.close() == 0

    assert logged(tmp_path) == []
    assert sent_to_claude(claude) == ["remember me"]


async def test_forget_not_confirmed_deletes_nothing(tmp_path, claude):
    term = await console(tmp_path, claude)
    await term.line("keep me")
    await term.expect("Echo #1: keep me")
    await term.line("!forget")
    await term.line("no", prompt="yes/no> ")
    await term.expect("Not confirmed: nothing was deleted.")
    assert await term.close() == 0

    assert logged(tmp_path) == ["keep me"]


async def test_unknown_commands_and_typos_are_answered_not_sent_or_logged(tmp_path, claude):
    term = await console(tmp_path, claude)
    await term.line("!stat")
    assert "unknown command !stat, try !help (did you mean !stats?)" in await term.expect("you> ")
    await term.type("!frobnicate" + ENTER)
    assert "unknown command !frobnicate, try !help" in await term.expect("you> ")
    await term.type("!forgot" + ENTER)
    assert "did you mean !forget?" in await term.expect("you> ")
    await term.type("!Stats" + ENTER)  # discord.py's commands are case-sensitive too
    assert "did you mean !stats?" in await term.expect("you> ")
    assert await term.close() == 0

    assert logged(tmp_path) == []
    assert claude.requests == []


async def test_export_honours_the_format_or_names_the_formats(tmp_path, claude):
    term = await console(tmp_path, claude)
    await term.line("one")
    await term.expect("Echo #1: one")
    await term.line("!export jsonl")
    await term.expect("Exported 1 exchange to ")  # jsonl: a line an exchange
    await term.line("!export nope")
    said = await term.expect("you> ")
    assert "Unknown format nope: use csv, jsonl, chat, openai, bedrock or kto." in said
    assert await term.close() == 0

    [export] = list(tmp_path.glob("conversation_export_*"))
    assert export.suffix == ".jsonl"
    assert [json.loads(line)["user_message"] for line in export.read_text().splitlines()] == ["one"]
    assert logged(tmp_path) == ["one"]


async def test_optout_optin_and_privacy_are_the_discord_commands(tmp_path, claude):
    term = await console(tmp_path, claude)
    await term.line("!optout")
    await term.expect("You're opted out")
    await term.line("not kept")
    await term.expect("Echo #1: not kept")
    await term.line("!optin")
    await term.expect("You're opted in")
    await term.line("kept")
    await term.expect("Echo #1: kept")  # no context: the opted-out turn was not remembered
    await term.line("!privacy")
    await term.expect("What is stored")
    await term.line("!help")
    said = await term.expect("you> ")
    for command in ("!stats", "!history", "!export", "!forget", "!optout", "!optin", "!privacy", "!help", "!quit"):
        assert command in said
    assert await term.close() == 0

    assert logged(tmp_path) == ["kept"]
    assert sent_to_claude(claude) == ["not kept", "kept"]


async def test_piped_control_characters_are_refused_with_a_line_and_not_logged(tmp_path, claude):
    """No readline on a pipe: what still is a control character is answered, never sent or logged."""
    script = b"abc\x1b[D\x1b[DX\n\x0c!stats\nfine\tline\n!stats\n"
    code, out, err = await run_bot_cli("console", env=env_for(tmp_path, claude), stdin=script, cwd=tmp_path)

    assert code == 0, err
    assert "Refused: column 4 holds U+001B (control character), which is not text: not sent, not logged." in out
    assert "Refused: column 1 holds U+000C (control character)" in out
    assert "Total conversations: 1" in out
    assert logged(tmp_path) == ["fine\tline"]
    assert sent_to_claude(claude) == ["fine\tline"]


async def test_ctrl_c_leaves_at_once_gives_the_terminal_back_and_keeps_nothing_half_typed(tmp_path, claude):
    term = await console(tmp_path, claude)
    await term.line("kept")
    await term.expect("Echo #1: kept")
    await term.expect("you> ")
    await term.type("half typed")
    await term.expect("half typed")  # readline has read it: the line is being edited
    await term.type(CTRL_C)
    code = await term.exited()
    lflag = termios.tcgetattr(term.master)[LOCAL_MODES]
    await term.close()

    assert code == ABORTED  # click's exit status after Ctrl-C
    assert lflag & termios.ICANON and lflag & termios.ECHO  # not left in readline's raw mode
    assert logged(tmp_path) == ["kept"]
