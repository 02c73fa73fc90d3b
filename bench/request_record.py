"""What the faithful record (m021, m022) costs the write path: the same burst through the bot's writer with
each row's request recorded, and with none (as every row was logged before), against raw executemany,
alternated in one run; and the bytes per row the request columns add, from the vacuumed files.

    python -m bench.request_record [--burst 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.data import exchange, fresh, rows
from bench.writes import raw_executemany
from bot.store import ConversationLog, Exchange, connect
from bot.store.request_record import RECORDED, RequestRecord

CONTEXT_TURNS = 5  # memory's usual context: the last few exchanges of the thread, by message id
MAX_TOKENS = 1024  # BOT_MAX_TOKENS's default


def recorded(item: Exchange, n: int, prompt_id: int) -> Exchange:
    """The exchange with a request as the live bot records it (ids of their real lengths)."""
    context = tuple(str(1300000000000000000 + n - k) for k in range(CONTEXT_TURNS, 0, -1))
    request = RequestRecord(
        RECORDED,
        prompt_id,
        item.model_used,
        MAX_TOKENS,
        f"msg_01{n:022d}",  # msg_ + 24 characters, as the API's
        f"req_01{n:022d}",
        context,
    )
    return replace(item, request=request)


def burst(path: Path, count: int, with_request: bool) -> float:
    """Rows per second through ConversationLog (FTS on, as in production)."""
    fresh(path, True)
    with ConversationLog(path) as store:
        prompt_id = store.system_prompt_id("You are a helpful assistant in a Discord server. " * 60).result()
        items = [exchange(values) for values in rows(count, seed=13)]
        if with_request:
            items = [recorded(item, n, prompt_id) for n, item in enumerate(items)]
        started = time.perf_counter()
        futures = [store.submit(item) for item in items]
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
    return count / elapsed


def bytes_per_row(path: Path, count: int) -> float:
    db = connect(path)
    try:
        db.execute("VACUUM")
        return path.stat().st_size / count
    finally:
        db.close()


def main(burst_rows: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rates: dict[str, list[float]] = {"raw": [], "without": [], "with": []}
        for _ in range(rounds):  # alternated, so the machine's load falls on all three alike
            rates["raw"].append(raw_executemany(work / "raw.db", burst_rows, True))
            rates["without"].append(burst(work / "without.db", burst_rows, False))
            rates["with"].append(burst(work / "with.db", burst_rows, True))
        sizes = {name: bytes_per_row(work / f"{name}.db", burst_rows) for name in ("without", "with")}
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"burst of {burst_rows:,} rows, FTS on, median of {rounds} alternated rounds:")
    for name in ("without", "with"):
        print(
            f"  request {name:>7}: {median[name]:,.0f} rows/s, {median[name] / median['raw']:.2f}x raw executemany "
            f"({median['raw']:,.0f} rows/s); {sizes[name]:,.1f} bytes per row in the vacuumed file"
        )
    print(f"  the request columns: {sizes['with'] - sizes['without']:+,.1f} bytes per row")
    print(f"  with/without: {median['with'] / median['without']:.2f}x; rounds: {rates}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    main(args.burst, args.rounds)
