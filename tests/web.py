"""Shared by the Datasette tests: the Procfile's own command, and a log written by the bot's store."""

from __future__ import annotations

import asyncio
import hashlib
import shlex
from pathlib import Path

import aiohttp
import yaml
from datasette.app import Datasette

from bot.store import ConversationLog, Exchange, utc_now_text

PROJECT = Path(__file__).resolve().parent.parent
METADATA = PROJECT / "metadata.yml"
PLUGINS = PROJECT / "plugins"
TEMPLATES = PROJECT / "templates"


def procfile_web() -> tuple[dict[str, str], list[str]]:
    """(inline environment, arguments after `datasette serve`) of the Procfile's web process."""
    line = next(l for l in (PROJECT / "Procfile").read_text().splitlines() if l.startswith("web:"))
    [serving] = [command for command in line.removeprefix("web:").split("&&") if "datasette serve" in command]
    words = shlex.split(serving)
    env = dict(w.split("=", 1) for w in words[: words.index("datasette")])
    return env, words[words.index("serve") + 1 :]


def procfile_settings() -> dict[str, str]:
    _, args = procfile_web()
    return {args[i + 1]: args[i + 2] for i, arg in enumerate(args) if arg == "--setting"}


def serve_args(db_path: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """The Procfile's web arguments for this file, host and port."""
    _, args = procfile_web()
    args = [str(db_path) if a.startswith("${CONVERSATION_LOG_DB") else a for a in args]
    args[args.index("--host") + 1] = host
    args[args.index("--port") + 1] = str(port)
    return args


SERVE_POLL_S = 0.1  # how often to ask a starting `datasette serve` whether it answers yet


async def serving(base: str, tries: int) -> bool:
    """Whether the `datasette serve` at `base` answers /robots.txt within `tries` polls."""
    async with aiohttp.ClientSession() as session:
        for _ in range(tries):
            try:
                async with session.get(base + "/robots.txt") as response:
                    if response.status == 200:
                        return True
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(SERVE_POLL_S)
    return False


def datasette_for(db_path: Path, config: dict | None = None, secret: str | None = None) -> Datasette:
    """Datasette as the Procfile serves it; `config` overrides keys of plugins.conversation-log."""
    metadata = yaml.safe_load(METADATA.read_text())
    metadata["plugins"]["conversation-log"].update(config or {})
    settings = {name: {"on": True, "off": False}.get(value, value) for name, value in procfile_settings().items()}
    settings = {
        name: int(value) if isinstance(value, str) and value.isdigit() else value for name, value in settings.items()
    }
    return Datasette(
        [str(db_path)],
        metadata=metadata,
        plugins_dir=str(PLUGINS),
        template_dir=str(TEMPLATES),
        settings=settings,
        secret=secret,
    )


PEOPLE = [("101", "alice", "Alice A."), ("102", "bob", "Bobby"), ("103", "Robert'); DROP TABLE x;--", "<b>r</b>")]
MODELS = ["claude-haiku-4-5", "claude-haiku-4-5", "claude-sonnet-4-5", "static_fallback"]


def sample_exchange(n: int, timestamp: str = "") -> Exchange:
    user_id, name, display = PEOPLE[n % len(PEOPLE)]
    model = MODELS[n % len(MODELS)]
    tokens = (0, 0) if model == "static_fallback" else (10 + n, 20 + n)
    return Exchange(
        user_id=user_id,
        user_name=name,
        display_name=display,
        channel_id=f"c{n % 2}",
        user_message=f"question {n} about {'penguins' if n % 5 == 0 else 'weather'}",
        bot_response=f"answer {n}\nwith a second line",
        model_used=model,
        message_id=f"m{n}",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        timestamp=timestamp or utc_now_text(),  # the store takes no "" for now
    )


def rate_samples(store: ConversationLog, count: int) -> None:
    """Every third reply gets a 👍; when n is odd two 👎 outweigh it."""
    for n in range(0, count, 3):
        store.set_reply_id(f"m{n}", f"r{n}").result()
        store.rate(f"r{n}", "rater-1", 1).result()
        if n % 2:
            store.rate(f"r{n}", "rater-2", -1).result()
            store.rate(f"r{n}", "rater-3", -1).result()


def write_sample_log(path: Path, count: int = 40) -> None:
    """`count` exchanges through the bot's store; a quarter of them older than a day."""
    with ConversationLog(path) as store:
        for n in range(count):
            old = f"2026-0{1 + n % 9}-1{n % 10} 12:00:00" if n % 4 == 0 else ""
            store.submit(sample_exchange(n, old)).result()
        rate_samples(store, count)


def fingerprint(path) -> tuple[str, int]:
    """The database's bytes, and the size of any -wal (a reader creates an empty one; a write would fill it)."""
    wal = path.with_name(path.name + "-wal")
    return hashlib.sha256(path.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0
