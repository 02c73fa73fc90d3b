"""What keeping attachments (BOT_KEEP_ATTACHMENTS, m025) costs the write path: a burst in which every row
names one sent file, through the bot's writer with m025's attachment_refs triggers and with them dropped (as
before m025), against raw executemany, alternated in one run; and how long the blob worker takes per file
(off the answer's path: the bot never waits for it).

    python -m bench.blobs [--burst 20000] [--rounds 3] [--files 50]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.data import exchange, fresh, rows
from bench.writes import raw_executemany
from bot.store import ConversationLog, connect
from bot.store.blobs import SentFile

IMAGE_BYTES = 1024 * 1024  # a 1 MB image: a phone screenshot, under the API's 5 MB
TRIGGERS = ("attachment_refs_add", "attachment_refs_remove", "attachment_refs_change")


def attachments(n: int) -> str:
    sha = hashlib.sha256(str(n % 1000).encode()).hexdigest()  # 1,000 distinct files, each shared by many rows
    item = {"name": f"f{n}.png", "type": "image/png", "size": 1, "url": "u", "status": "sent", "sha256": sha}
    return json.dumps([item])


def burst(path: Path, count: int, with_refs: bool) -> float:
    """Rows per second through ConversationLog (FTS on, as in production), every row with a sent file."""
    fresh(path, True)
    if not with_refs:
        db = connect(path)
        for trigger in TRIGGERS:
            db.execute(f"drop trigger {trigger}")
        db.conn.commit()
        db.close()
    with ConversationLog(path) as store:
        items = [replace(exchange(values), attachments=attachments(n)) for n, values in enumerate(rows(count, 13))]
        started = time.perf_counter()
        for future in [store.submit(item) for item in items]:
            future.result()
        elapsed = time.perf_counter() - started
    return count / elapsed


def keep_seconds(path: Path, files: int) -> float:
    """Seconds per 1 MB file on the blob worker, its row committed first (the ref check included)."""
    fresh(path, False)
    data = [os.urandom(IMAGE_BYTES) for _ in range(files)]
    sent = [SentFile(hashlib.sha256(d).hexdigest(), "image/png", d) for d in data]
    with ConversationLog(path, keep_attachments=True) as store:
        for n, file in enumerate(sent):
            item = {"name": "x.png", "type": "image/png", "size": IMAGE_BYTES, "status": "sent", "sha256": file.sha256}
            store.submit(replace(exchange(next(rows(1, n))), attachments=json.dumps([item]))).result()
        started = time.perf_counter()
        for file in sent:
            store.blobs.keep([file])
        store.blobs.flush()
        return (time.perf_counter() - started) / files


def main(burst_rows: int, rounds: int, files: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rates: dict[str, list[float]] = {"raw": [], "without": [], "with": []}
        for _ in range(rounds):  # alternated, so the machine's load falls on all three alike
            rates["raw"].append(raw_executemany(work / "raw.db", burst_rows, True))
            rates["without"].append(burst(work / "without.db", burst_rows, False))
            rates["with"].append(burst(work / "with.db", burst_rows, True))
        per_file = keep_seconds(work / "keep.db", files)
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"burst of {burst_rows:,} rows, each naming a sent file, FTS on, median of {rounds} alternated rounds:")
    for name in ("without", "with"):
        ratio = median[name] / median["raw"]
        print(f"  refs {name:>7}: {median[name]:,.0f} rows/s, {ratio:.2f}x raw executemany ({median['raw']:,.0f})")
    print(f"  with/without: {median['with'] / median['without']:.2f}x; rounds: {rates}")
    print(f"  blob worker: {per_file * 1000:.1f} ms per {IMAGE_BYTES // 2**20} MB file ({files} files), off the loop")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=50)
    args = parser.parse_args()
    main(args.burst, args.rounds, args.files)
