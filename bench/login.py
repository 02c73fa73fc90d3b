"""`python -m bench.login [--quick] [--before 6844d81]`: what password guessing does to everyone else.

A real `datasette serve` (the Procfile's arguments, a real ~95 ms password hash) on 127.0.0.1. A visitor
times /robots.txt and a logged-in table page with no attack (the baseline), then while wrong Basic logins
arrive at a steady rate, stepped up until a page misses the target: all from one address, then each from
a new address (the whole 127/8 is this machine), as a botnet would. `--before REV` runs the same against
that revision's plugins/ (taken with `git archive`).
Every figure is printed with its ratio to the baseline of the same run; it checks nothing.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import click
from datasette_auth_passwords.utils import hash_password

from bench.data import build
from tests.support import PROJECT
from tests.support.processes import closed_port
from tests.support.web import serve_args, serving

PASSWORD = "bench password"
TABLE_PAGE = "/conversation_logs/conversations?_size=20"
GUESSED_PAGE = "/conversation_logs/stats.json"
# Wrong logins a second, each rate for a few seconds; a run stops at the first rate a page misses the target.
RATES = (5, 10, 20, 50, 100, 200, 400)
QUICK_RATES = (10, 50, 200)
# The target of the issue: a normal page stays under this while guessing goes on.
PAGE_TARGET_MS = 100
BENCH_ROWS = 2000


async def serve(db: Path, plugins: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = closed_port()
    args = serve_args(db, port)
    args[args.index("--plugins-dir") + 1] = str(plugins)
    env = {**os.environ, "DATASETTE_REQUIRE_LOGIN": "1", "DATASETTE_PASSWORD_HASH": hash_password(PASSWORD)}
    env = {k: v for k, v in env.items() if k not in ("DATASETTE_PUBLIC", "DATASETTE_BEHIND_PROXY")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "datasette",
        "serve",
        *args,
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    if await serving(base, tries=300):
        return process, base
    process.kill()
    raise click.ClickException(f"datasette serve did not start with the plugins in {plugins}")


async def log_in(base: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/-/login") as page:
            token = page.cookies["ds_csrftoken"].value
        form = {"username": "admin", "password": PASSWORD, "csrftoken": token}
        async with session.post(base + "/-/login", data=form, allow_redirects=False) as response:
            return {"ds_actor": response.cookies["ds_actor"].value}


async def visit(base: str, cookies: dict[str, str], until: float) -> dict[str, list[float]]:
    """Milliseconds of each page, fetched one after another until `until`."""
    times: dict[str, list[float]] = {"/robots.txt": [], TABLE_PAGE: []}
    async with aiohttp.ClientSession(cookies=cookies) as session:
        while time.monotonic() < until:
            for path, samples in times.items():
                started = time.perf_counter()
                async with session.get(base + path, allow_redirects=False) as response:
                    await response.read()
                    assert response.status == 200, f"{path}: {response.status}"
                samples.append((time.perf_counter() - started) * 1000)
    return times


async def guess(base: str, address: str, statuses: list[int]) -> None:
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode()}
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(base + GUESSED_PAGE, headers=wrong, allow_redirects=False) as response,
    ):
        await response.read()
        statuses.append(response.status)


def loopback_addresses() -> Iterator[str]:
    """127.0.1.1, 127.0.1.2, ...: a new address for every guess, as a botnet would have."""
    return (f"127.0.{n // 250 + 1}.{n % 250 + 1}" for n in itertools.count())


async def attack(
    base: str, cookies: dict[str, str], rate: int, seconds: float, one_address: bool
) -> tuple[dict[str, list[float]], list[int]]:
    """`rate` wrong logins a second for `seconds` while the visitor reads; then every guess is answered."""
    until = time.monotonic() + seconds
    statuses: list[int] = []
    guesses = []
    addresses = itertools.repeat("127.0.0.2") if one_address else loopback_addresses()
    visitor = asyncio.create_task(visit(base, cookies, until))
    started = time.monotonic()
    for n in itertools.count():
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        if time.monotonic() >= until:
            break
        guesses.append(asyncio.create_task(guess(base, next(addresses), statuses)))
    pages = await visitor
    await asyncio.gather(*guesses)
    return pages, statuses


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


async def run(
    plugins: Path, label: str, rates: tuple[int, ...], seconds: float, workdir: Path, every_rate: bool = False
) -> list[str]:
    db = workdir / "conversation_logs.db"
    if not db.exists():
        build(db, BENCH_ROWS)
    process, base = await serve(db, plugins)
    rows = []
    try:
        cookies = await log_in(base)
        baseline = {path: p95(samples) for path, samples in (await visit(base, cookies, time.monotonic() + 2)).items()}
        rows.append(
            f"| {label} | no attack (baseline) | | {baseline['/robots.txt']:.1f} ms | {baseline[TABLE_PAGE]:.1f} ms | |"
        )
        for mode, one_address in (("one address", True), ("a new address each", False)):
            for rate in rates:
                pages, statuses = await attack(base, cookies, rate, seconds, one_address)
                robots, table = p95(pages["/robots.txt"]), p95(pages[TABLE_PAGE])
                counts = ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
                met = max(robots, table) < PAGE_TARGET_MS
                rows.append(
                    f"| {label} | {mode}, {rate}/s | {counts} | {robots:.1f} ms "
                    f"({robots / baseline['/robots.txt']:.1f}x) | {table:.1f} ms "
                    f"({table / baseline[TABLE_PAGE]:.1f}x) | {'met' if met else '**missed**'} |"
                )
                if not met and not every_rate:
                    break  # a faster attack would only queue more behind this one
    finally:
        process.terminate()
        await process.wait()
    return rows


def plugins_at(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", revision, "plugins"], cwd=PROJECT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "plugins"


@click.command()
@click.option("--quick", is_flag=True, help="Three attack rates of 2 s each instead of seven of 5 s.")
@click.option("--before", "revision", default=None, help="Also measure the plugins/ of this git revision.")
@click.option(
    "--every-rate", is_flag=True, help="Go on past a rate that misses the target (the suite checks the report)."
)
def main(quick: bool, revision: str | None, every_rate: bool) -> None:
    rates, seconds = (QUICK_RATES, 2.0) if quick else (RATES, 5.0)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows = (
            asyncio.run(run(plugins_at(revision, workdir), f"before ({revision})", rates, seconds, workdir, every_rate))
            if revision
            else []
        )
        rows += asyncio.run(run(PROJECT / "plugins", "now", rates, seconds, workdir, every_rate))
    click.echo(
        f"| Plugins | Wrong logins | Answers | /robots.txt p95 | table page p95 | < {PAGE_TARGET_MS} ms |\n"
        "|---|---|---|---|---|---|"
    )
    click.echo("\n".join(rows))


if __name__ == "__main__":
    main()
