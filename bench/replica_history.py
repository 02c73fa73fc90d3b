"""`python -m bench.replica_history`: how long a forgotten row can still be restored from the replica.

`!forget` reaches the replica's current state within a second, but the replica's history (what a
point-in-time restore reads) keeps the row until Litestream's retention removes it. This runs the
real bot store and the real `litestream` with the retention scaled down from hours to seconds, and
Litestream's compaction levels and L0 retention scaled with it (in production, 30 s / 5 min / 1 h
and 5 min against 24 h of retention), so the same rules decide, only faster. It writes a row,
forgets it, keeps writing, and every few seconds restores the log as it was just before the forget,
until that restore no longer holds the row.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bot.config.settings import Settings
from bot.replica import litestream as replication
from bot.replica import litestream_config
from bot.replica.replicator import Replicator
from bot.store import ConversationLog, Exchange
from bot.store.sqlite import sqlite3

SCALED_LEVELS = ("2s", "5s", "10s")  # L1-L3 intervals: well under the retention, as 1 h is under 24 h
SCALED_L0_RETENTION = "5s"
PROBE_EVERY_S = 5.0
FORGOTTEN = "alice"  # the user who asks to be forgotten; "bob" keeps talking meanwhile

production_config = litestream_config.config  # write_config's own module: patched there


def scaled_config(settings: Settings) -> dict[str, Any]:
    """The bot's own generated config, with Litestream's fixed intervals scaled down to seconds."""
    return {
        "l0-retention": SCALED_L0_RETENTION,
        "l0-retention-check-interval": "1s",
        "levels": [{"interval": interval} for interval in SCALED_LEVELS],
        **production_config(settings),
    }


def exchange(n: int, user: str) -> Exchange:
    return Exchange(
        user_id=user,
        user_name=user,
        channel_id="c",
        user_message=f"{user} {n}",
        bot_response="r",
        model_used="m",
        message_id=f"{user}-{n}",
    )


def still_restorable(settings: Settings, before: datetime, target: Path) -> bool:
    if not replication.restore(settings, "conversation_logs.db", target, before):
        return False  # nothing in the history reaches back that far any more
    with sqlite3.connect(target) as conn:
        rows: int = conn.execute("select count(*) from conversations where user_id = ?", [FORGOTTEN]).fetchone()[0]
    return rows > 0


def measure(work: Path, retention_s: float) -> tuple[float, float]:
    """Seconds after the forget: the last probe that restored the row, and the first that did not."""
    settings = Settings.from_env(
        {
            "CONVERSATION_LOG_DB": str(work / "conversation_logs.db"),
            "BOT_MEMORY_DB": str(work / "memory.db"),
            "LITESTREAM_REPLICA_URL": f"file://{work}/replica",
            "LITESTREAM_RETENTION_HOURS": str(retention_s / 3600),
        },
        dotenv_path=None,
    )
    litestream_config.config = scaled_config
    try:
        with ConversationLog(settings.log_db, own_checkpoints=False) as store:
            replicator = Replicator(settings).start()
            try:
                return _forget_and_probe(settings, store, work, retention_s)
            finally:
                replicator.stop()
    finally:
        litestream_config.config = production_config


def _forget_and_probe(
    settings: Settings, store: ConversationLog, work: Path, retention_s: float
) -> tuple[float, float]:
    store.submit(exchange(0, FORGOTTEN)).result()
    time.sleep(PROBE_EVERY_S)
    before = datetime.now(UTC)
    time.sleep(1.5)  # restore timestamps have whole seconds
    store.forget(FORGOTTEN).result()
    forgotten, last_seen, n = time.monotonic(), 0.0, 0
    while time.monotonic() - forgotten < 3 * retention_s + 60:
        deadline = time.monotonic() + PROBE_EVERY_S
        while time.monotonic() < deadline:  # other people keep talking
            n += 1
            store.submit(exchange(n, "bob")).result()
            time.sleep(0.5)
        if not still_restorable(settings, before, work / f"probe-{n}.db"):
            return last_seen, time.monotonic() - forgotten
        last_seen = time.monotonic() - forgotten
    raise click.ClickException(f"the forgotten row was still restorable {last_seen:.0f} s after the forget")


@click.command()
@click.option(
    "--retention",
    "retention_s",
    default=30.0,
    show_default=True,
    help="LITESTREAM_RETENTION_HOURS, scaled down to seconds.",
)
def main(retention_s: float) -> None:
    """Measure how long a forgotten row stays restorable from the replica's history."""
    with tempfile.TemporaryDirectory(prefix="bench-replica-history-") as work:
        last_seen, gone = measure(Path(work), retention_s)
    click.echo(
        f"retention {retention_s:g} s (levels {', '.join(SCALED_LEVELS)}, L0 {SCALED_L0_RETENTION}): "
        f"the forgotten row was restorable {last_seen:.1f} s after the forget and gone at {gone:.1f} s "
        f"({gone / retention_s:.2f}x the retention)"
    )


if __name__ == "__main__":
    main()
