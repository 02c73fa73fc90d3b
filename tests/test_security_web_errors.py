"""Security items 6 and 7 (clean errors, one query's size) through Datasette's ASGI app, and every item
through a real `datasette serve` on 127.0.0.1. Helpers and fixtures are those of test_security_web.py."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import os
import signal
import sys
import time

import aiohttp
import pytest
from datasette_auth_passwords.utils import hash_password

from bot.store.sqlite import sqlite3
from tests.support import PROJECT
from tests.support.processes import closed_port, stop
from tests.support.web import serve_args, serving
from tests.support.web_auth import PAGE, PASSWORD, basic, fetch, guarded, plugin

# 6. Unknown URLs and methods


@pytest.mark.parametrize(
    "method, path, headers, status",
    [
        ("GET", "/conversation_logs/conversations/-/nope", basic("admin", PASSWORD), 404),
        ("GET", "/conversation_logs/conversations/-/nope", {}, 404),
        ("GET", "/nope.json", basic("admin", PASSWORD), 404),
        ("TRACE", "/", {}, 405),
        ("PROPFIND", "/conversation_logs", basic("admin", PASSWORD), 405),
        ("GET", "/", {"Authorization": "Basic abc"}, 401),
        ("GET", "/", {"Authorization": "Basic " + base64.b64encode(b"\xff:x").decode()}, 401),
    ],
)
async def test_unknown_urls_and_methods_answer_cleanly(tiny_log_path, web_env, capsys, method, path, headers, status):
    ds = await guarded(tiny_log_path)
    response = await fetch(ds, method, path, headers=headers)
    assert response.status_code == status
    assert "Traceback" not in capsys.readouterr().err


async def test_a_public_web_process_ignores_a_malformed_basic_header(tiny_log_path, web_env):
    web_env.setenv("DATASETTE_PUBLIC", "1")
    web_env.delenv("DATASETTE_PASSWORD_HASH")
    ds = await guarded(tiny_log_path)
    assert (await fetch(ds, "GET", PAGE, headers={"Authorization": "Basic abc"})).status_code == 200


# 7. One query's size


def run_sql(ds, sql: str, suffix: str = ".json"):
    return fetch(ds, "GET", f"/conversation_logs{suffix}", params={"sql": sql}, headers=basic("admin", PASSWORD))


@pytest.mark.parametrize("size", [4 * 2**20 + 1, 1_000_000_000])
async def test_a_huge_value_is_refused_at_once(tiny_log_path, web_env, size):
    ds = await guarded(tiny_log_path)
    started = time.perf_counter()
    response = await run_sql(ds, f"select length(randomblob({size}))")
    assert response.status_code == 400 and "too big" in response.json()["error"]
    assert time.perf_counter() - started < 1.0


async def test_many_large_values_in_one_query_are_refused(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    sql = (
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 100) select zeroblob(1048576) from n"
    )
    response = await run_sql(ds, sql, "")
    assert response.status_code == 400 and "returns more than 64 MB" in response.text


async def test_real_rows_with_long_values_still_read(tiny_log_path, web_env):
    limits = plugin("query_limits")
    long_reply = "é" * 30_000  # beyond any reply the bot can log
    with sqlite3.connect(tiny_log_path) as conn:
        conn.execute("update conversations set bot_response = ?", [long_reply])
        conn.executemany(
            "insert into conversations (user_id, user_name, channel_id, user_message, bot_response,"
            " timestamp, tokens_used, model_used, message_id) values ('1', 'u', 'c', 'q', ?,"
            " '2026-01-01 00:00:00', 0, 'm', ?)",
            [(long_reply, f"x{n}") for n in range(995)],
        )
        conn.execute("update conversations set user_message = ? where id = 1", ["x" * (limits.MAX_VALUE_BYTES - 1)])
    ds = await guarded(tiny_log_path)
    auth = basic("admin", PASSWORD)
    page = await fetch(ds, "GET", "/conversation_logs/conversations.json?_size=max&_shape=array", headers=auth)
    assert page.status_code == 200 and len(page.json()) == 1000
    assert {len(row["bot_response"]) for row in page.json()} == {30_000}
    row = await fetch(ds, "GET", "/conversation_logs/conversations/1.json?_shape=array", headers=auth)
    assert len(row.json()[0]["user_message"]) == limits.MAX_VALUE_BYTES - 1
    streamed = await fetch(ds, "GET", "/conversation_logs/conversations.csv?_stream=on&_size=max", headers=auth)
    csv.field_size_limit(limits.MAX_VALUE_BYTES)
    rows = list(csv.DictReader(io.StringIO(streamed.text)))
    assert streamed.status_code == 200 and len(rows) == 1000 and len(rows[0]["user_message"]) > 4 * 10**6


# The same through a real `datasette serve` on 127.0.0.1


NO_RICH = "import sys; sys.modules['rich'] = None; from datasette.cli import cli; cli()"  # `import rich` fails


async def serve(tiny_log_path, without_rich: bool = False):
    port = closed_port()
    command = ["-c", NO_RICH] if without_rich else ["-m", "datasette"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        "serve",
        *serve_args(tiny_log_path, port),
        cwd=PROJECT,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    if await serving(base, tries=200):
        return process, base
    process.kill()
    raise AssertionError((await process.communicate())[1].decode())


async def timed_get(session, url: str) -> float:
    started = time.perf_counter()
    async with session.get(url) as response:
        await response.read()
    return time.perf_counter() - started


async def guess(base: str, address: str) -> int:
    """A wrong Basic login from a loopback address of its own (the whole 127/8 is this machine)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(base + PAGE, headers=basic("admin", "guess"), allow_redirects=False) as r,
    ):
        return r.status


@pytest.mark.slow
async def test_guessing_from_many_addresses_does_not_stall_other_visitors(tiny_log_path, web_env):
    web_env.setenv("DATASETTE_PASSWORD_HASH", hash_password(PASSWORD))  # the real cost: ~95 ms a check
    process, base = await serve(tiny_log_path)
    try:
        async with aiohttp.ClientSession() as visitor:
            baseline = [await timed_get(visitor, base + "/robots.txt") for _ in range(5)]
            attack = asyncio.gather(*(guess(base, f"127.0.0.{n}") for n in range(2, 22)))
            await asyncio.sleep(0.05)
            during = [await timed_get(visitor, base + "/robots.txt") for _ in range(5)]
            statuses = await attack
    finally:
        await stop(process)
    assert max(during) < 0.3, f"robots.txt took {max(during):.3f} s under attack (baseline {max(baseline):.3f} s)"
    guard = plugin("login_guard")
    assert set(statuses) <= {401, 503} and statuses.count(401) >= guard.HASH_WORKERS + guard.HASHES_WAITING


@pytest.mark.slow
@pytest.mark.parametrize("without_rich", [False, True], ids=["with rich", "without rich"])
async def test_unknown_urls_print_no_traceback(tiny_log_path, web_env, without_rich):
    process, base = await serve(tiny_log_path, without_rich)
    auth = {"Authorization": basic("admin", PASSWORD)["Authorization"]}
    probes = [
        ("GET", "/conversation_logs/conversations/-/nope", auth, 404),
        ("TRACE", "/", {}, 405),
        ("GET", "/", {"Authorization": "Basic abc"}, 401),
        ("GET", "/nope", auth, 404),
    ]
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for method, path, headers, _ in probes:
                async with session.request(method, base + path, headers=headers, allow_redirects=False) as r:
                    statuses.append(r.status)
    finally:
        err = await stop(process)
    assert statuses == [status for *_, status in probes]
    assert "Traceback" not in err and "│" not in err, err[-600:]


@pytest.mark.slow
async def test_a_script_with_a_wrong_password_fails_instead_of_saving_nothing(tiny_log_path, web_env, tmp_path):
    process, base = await serve(tiny_log_path)
    export, url = tmp_path / "export.csv", base + "/conversation_logs/conversations.csv?_stream=on"
    try:
        codes = []
        for password in ("wrong", PASSWORD):
            curl = await asyncio.create_subprocess_exec("curl", "-sf", "-u", f"admin:{password}", "-o", export, url)
            codes.append(await curl.wait())
    finally:
        await stop(process)
    assert codes == [22, 0] and export.read_text().startswith("id,user_id")  # 22: curl -f saw an HTTP error


@pytest.mark.slow
async def test_the_procfile_web_process_refuses_an_empty_password_in_one_line(tiny_log_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASETTE_")}
    line = next(text for text in (PROJECT / "Procfile").read_text().splitlines() if text.startswith("web:"))
    process = await asyncio.create_subprocess_shell(
        line.removeprefix("web:"),
        cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env={
            **env,
            "PORT": str(closed_port()),
            "CONVERSATION_LOG_DB": str(tiny_log_path),
            "DATASETTE_PASSWORD_HASH": hash_password(""),
            "PATH": f"{os.path.dirname(sys.executable)}:{env['PATH']}",
        },
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), 30)
    except TimeoutError:
        os.killpg(process.pid, signal.SIGTERM)
        raise AssertionError("the web process started with the hash of an empty password") from None
    lines = [text for text in err.decode().splitlines() if "DATASETTE_PASSWORD_HASH" in text]
    assert process.returncode == 1 and len(lines) == 1 and "empty password" in lines[0]
    assert "Traceback" not in err.decode()
