"""Settings come from the environment and .env, in one place; bad ones say which variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.settings import ROOT, ConfigError, Settings
from tests.support.processes import clean_env, run_bot_cli

PROJECT = Path(__file__).resolve().parent.parent


def test_defaults_follow_the_spec(tmp_path):
    settings = Settings.from_env({}, dotenv_path=None)
    assert settings.model == "claude-haiku-4-5"
    assert settings.log_db == ROOT / "conversation_logs.db"
    assert settings.memory_db == ROOT / "bot_memory.db"
    assert settings.command_prefix == "!"
    assert settings.discord_token is None and settings.anthropic_api_key is None


def test_dotenv_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "DISCORD_TOKEN=from-file\nBOT_MODEL=claude-sonnet-4-5\nBOT_ADMIN_IDS=1, 2\n"
        "BOT_CHAT_CHANNELS=30 40\nCONVERSATION_LOG_DB=/data/log.db\nBOT_PREFIX=?\n"
    )
    settings = Settings.from_env({"DISCORD_TOKEN": "from-env"}, dotenv_path=env_file)
    assert settings.discord_token == "from-env"
    assert settings.model == "claude-sonnet-4-5"
    assert settings.owner_ids == {1, 2}
    assert settings.chat_channel_ids == {30, 40}
    assert settings.log_db == Path("/data/log.db")
    assert settings.command_prefix == "?"


@pytest.mark.parametrize(
    "name, value", [("BOT_ADMIN_IDS", "alice"), ("BOT_API_TIMEOUT", "soon"), ("BOT_MEMORY_TURNS", "-1")]
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value}, dotenv_path=None)


def test_the_memorys_window_grows_to_twice_its_turns_unless_told():
    assert Settings.from_env({}, dotenv_path=None).memory_max_turns == 20
    assert Settings.from_env({"BOT_MEMORY_TURNS": "6"}, dotenv_path=None).memory_max_turns == 12
    told = Settings.from_env({"BOT_MEMORY_TURNS": "6", "BOT_MEMORY_MAX_TURNS": "6"}, dotenv_path=None)
    assert (told.memory_turns, told.memory_max_turns) == (6, 6)  # the old sliding window
    with pytest.raises(ConfigError, match=r"^BOT_MEMORY_MAX_TURNS must be at least BOT_MEMORY_TURNS \(10\), got 5$"):
        Settings.from_env({"BOT_MEMORY_MAX_TURNS": "5"}, dotenv_path=None)


@pytest.mark.slow
async def test_missing_token_is_one_clear_line_and_a_failure(tmp_path):
    code, out, err = await run_bot_cli(env=clean_env(tmp_path))
    assert code != 0
    assert err.strip().count("\n") == 0
    assert "DISCORD_TOKEN is not set" in err and "Traceback" not in err + out


@pytest.mark.slow
async def test_bad_setting_is_one_clear_line(tmp_path):
    code, _, err = await run_bot_cli("console", env=clean_env(tmp_path, BOT_ADMIN_IDS="me"))
    assert code != 0 and "BOT_ADMIN_IDS" in err and "Traceback" not in err


@pytest.mark.slow
async def test_corrupt_log_file_is_named_at_startup(tmp_path):
    (tmp_path / "log.db").write_bytes(b"garbage" * 1000)
    code, _, err = await run_bot_cli("console", env=clean_env(tmp_path))
    assert code != 0 and str(tmp_path / "log.db") in err and "Traceback" not in err
    assert (tmp_path / "log.db").read_bytes() == b"garbage" * 1000
