"""The web's security holes (issue items 3-8) and an attacker's probes, against Datasette's real ASGI app
(from a chosen client address) and a real `datasette serve` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import csv
import importlib.util
import io
import os
import signal
import sqlite3
import sys
import threading
import time

import aiohttp
import click
import httpx
import pytest
from datasette.utils import baseconv
from datasette_auth_passwords.utils import hash_password

from tests.test_datasette_serve import stop
from tests.test_fallback import closed_port
from tests.web import PLUGINS, PROJECT, datasette_for, serve_args, write_sample_log

PASSWORD = "correct horse battery staple"
FAST = 1000  # hash iterations where the test does not measure time
PAGE = "/conversation_logs/stats.json"


def plugin(name: str):
    spec = importlib.util.spec_from_file_location(f"test_{name}", PLUGINS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def log_path(tmp_path):
    path = tmp_path / "conversation_logs.db"
    write_sample_log(path, count=5)
    return path


@pytest.fixture
def web_env(monkeypatch):
    monkeypatch.setenv("DATASETTE_REQUIRE_LOGIN", "1")
    monkeypatch.setenv("DATASETTE_PASSWORD_HASH", hash_password(PASSWORD, iterations=FAST))
    monkeypatch.delenv("DATASETTE_PUBLIC", raising=False)
    monkeypatch.delenv("DATASETTE_BEHIND_PROXY", raising=False)
    return monkeypatch


async def guarded(log_path, config: dict | None = None, secret: str | None = None):
    ds = datasette_for(log_path, config, secret)
    await ds.invoke_startup()
    return ds


async def fetch(ds, method: str, path: str, address: str = "127.0.0.1", scheme: str = "http", cookies=None,
                **kwargs):
    """One request from `address`, with no cookie kept between requests."""
    transport = httpx.ASGITransport(app=ds.client.app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://localhost", cookies=cookies) as client:
        return await client.request(method, path, **kwargs)


async def log_in(ds, password: str, address: str = "127.0.0.1", scheme: str = "http", **kwargs):
    token = (await fetch(ds, "GET", "/-/login", address, scheme)).cookies["ds_csrftoken"]
    return await fetch(ds, "POST", "/-/login", address, scheme, cookies={"ds_csrftoken": token},
                       data={"username": "admin", "password": password, "csrftoken": token}, **kwargs)


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def set_cookie(response, name: str = "ds_actor") -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


# 3. An empty or malformed admin password hash


async def refusal(log_path) -> str:
    with pytest.raises(click.ClickException) as raised:
        await guarded(log_path)
    return raised.value.message


async def test_a_hash_of_the_empty_password_refuses_to_start(log_path, web_env):
    web_env.setenv("DATASETTE_PASSWORD_HASH", hash_password("", iterations=FAST))
    message = await refusal(log_path)
    assert "DATASETTE_PASSWORD_HASH" in message and "empty password" in message and "\n" not in message


GOOD = hash_password(PASSWORD, iterations=FAST)


@pytest.mark.parametrize("bad", ["hunter2", GOOD.rsplit("$", 1)[0], GOOD.replace("pbkdf2_sha256", "md5", 1),
                                 GOOD[:-8], GOOD.replace("$1000$", "$many$"), GOOD.replace("$1000$", "$0$")])
async def test_a_malformed_hash_refuses_to_start(log_path, web_env, bad):
    web_env.setenv("DATASETTE_PASSWORD_HASH", bad)
    message = await refusal(log_path)
    assert message.startswith("conversation-log: DATASETTE_PASSWORD_HASH is not a hash") and "\n" not in message


async def test_a_good_hash_starts_and_the_empty_password_is_refused(log_path, web_env):
    ds = await guarded(log_path)
    assert (await fetch(ds, "GET", PAGE, headers=basic("admin", ""))).status_code == 401
    assert (await fetch(ds, "GET", PAGE, headers=basic("admin", PASSWORD))).status_code == 200


# 4. Throttling failed logins, per address


async def test_failed_logins_from_one_address_get_429_with_retry_after(log_path, web_env):
    ds = await guarded(log_path, {"login_failures": 3, "login_window_seconds": 60})
    for _ in range(3):
        wrong = await log_in(ds, "guess", "203.0.113.5")
        assert wrong.status_code == 200 and "Invalid username or password" in wrong.text
    throttled = await log_in(ds, PASSWORD, "203.0.113.5")  # even the right password waits
    assert throttled.status_code == 429 and 50 <= int(throttled.headers["retry-after"]) <= 60
    assert "ds_actor" not in throttled.cookies
    by_script = await fetch(ds, "GET", PAGE, "203.0.113.5", headers=basic("admin", PASSWORD))
    assert by_script.status_code == 429 and int(by_script.headers["retry-after"]) > 0


async def test_basic_auth_guessing_is_throttled_too(log_path, web_env):
    ds = await guarded(log_path, {"login_failures": 3, "login_window_seconds": 60})
    statuses = [(await fetch(ds, "GET", PAGE, "203.0.113.6", headers=basic("admin", f"guess{n}"))).status_code
                for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


async def test_the_admin_at_another_address_is_not_locked_out(log_path, web_env):
    ds = await guarded(log_path, {"login_failures": 3, "login_window_seconds": 60})
    for n in range(6):
        await fetch(ds, "GET", PAGE, "203.0.113.7", headers=basic("admin", f"guess{n}"))
    assert (await log_in(ds, "guess", "203.0.113.7")).status_code == 429
    admin = await log_in(ds, PASSWORD, "198.51.100.20")
    assert admin.status_code == 302 and admin.cookies["ds_actor"]
    assert (await fetch(ds, "GET", PAGE, "198.51.100.21", headers=basic("admin", PASSWORD))).status_code == 200


async def test_an_address_may_try_again_after_the_window_and_success_forgives(log_path, web_env):
    ds = await guarded(log_path, {"login_failures": 2, "login_window_seconds": 1})
    assert [(await log_in(ds, "guess", "203.0.113.8")).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.05)
    assert (await log_in(ds, PASSWORD, "203.0.113.8")).status_code == 302
    assert [(await log_in(ds, "guess", "203.0.113.8")).status_code for _ in range(3)] == [200, 200, 429]


async def test_a_spoofed_forwarded_for_does_not_dodge_the_throttle(log_path, web_env):
    ds = await guarded(log_path, {"login_failures": 3, "login_window_seconds": 60})
    statuses = [(await log_in(ds, "guess", "203.0.113.9", headers={"X-Forwarded-For": f"10.9.9.{n}"})).status_code
                for n in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


async def test_behind_a_proxy_the_address_the_proxy_appended_counts(log_path, web_env):
    ds = await guarded(log_path, {"login_failures": 3, "login_window_seconds": 60, "behind_proxy": "1"})
    proxy = "10.0.0.1"  # every request arrives from the platform's proxy
    attacker = [(await log_in(ds, "guess", proxy, headers={"X-Forwarded-For": f"10.9.9.{n}, 203.0.113.10"}))
                .status_code for n in range(5)]
    assert attacker == [200, 200, 200, 429, 429]
    admin = await log_in(ds, PASSWORD, proxy, headers={"X-Forwarded-For": "198.51.100.30"})
    assert admin.status_code == 302


async def test_ipv6_neighbours_in_one_64_share_a_throttle(log_path, web_env):
    ds = await guarded(log_path, {"login_failures": 3, "login_window_seconds": 60})
    statuses = [(await log_in(ds, "guess", f"2001:db8:0:1::{n}")).status_code for n in range(1, 6)]
    assert statuses == [200, 200, 200, 429, 429]
    assert (await log_in(ds, PASSWORD, "2001:db8:0:2::1")).status_code == 302


async def test_password_hashes_run_one_at_a_time_and_a_full_queue_is_refused():
    guard = plugin("login_guard")
    checks = guard.PasswordChecks(workers=1, waiting=2)
    running, most = [], []

    def hash_like():
        running.append(threading.get_ident())
        most.append(len(running))
        time.sleep(0.05)
        running.pop()
        return True

    results = await asyncio.gather(*(checks.run(hash_like) for _ in range(5)), return_exceptions=True)
    assert [r for r in results if r is True] == [True] * 3 and max(most) == 1
    assert sum(isinstance(r, guard.Busy) for r in results) == 2


# 5. Sessions


async def test_the_session_cookie_is_httponly_samesite_and_expires(log_path, web_env):
    ds = await guarded(log_path)
    response = await log_in(ds, PASSWORD)
    header = set_cookie(response)
    assert "HttpOnly" in header and "samesite=lax" in header.lower() and "Secure" not in header
    max_age = int(header.split("Max-Age=")[1].split(";")[0])
    assert 0 < max_age <= 24 * 3600
    expires = baseconv.base62.decode(ds.unsign(response.cookies["ds_actor"], "actor")["e"])
    assert abs(expires - (time.time() + max_age)) < 5


@pytest.mark.parametrize("scheme, headers", [("https", {}), ("http", {"X-Forwarded-Proto": "https"})])
async def test_the_session_cookie_is_secure_over_https(log_path, web_env, scheme, headers):
    ds = await guarded(log_path)
    assert "Secure" in set_cookie(await log_in(ds, PASSWORD, scheme=scheme, headers=headers))


async def page_with(ds, cookie: str, address: str = "127.0.0.1"):
    return await fetch(ds, "GET", PAGE, address, cookies={"ds_actor": cookie})


async def test_a_copied_cookie_stops_working_after_logout(log_path, web_env):
    ds = await guarded(log_path)
    cookie = (await log_in(ds, PASSWORD)).cookies["ds_actor"]
    assert (await page_with(ds, cookie)).status_code == 200
    token = (await fetch(ds, "GET", "/-/logout", cookies={"ds_actor": cookie})).cookies["ds_csrftoken"]
    logout = await fetch(ds, "POST", "/-/logout", cookies={"ds_actor": cookie, "ds_csrftoken": token},
                         data={"csrftoken": token})
    assert logout.status_code == 302
    copied = await page_with(ds, cookie, "192.0.2.99")
    assert copied.status_code == 302 and copied.headers["location"] == "/-/login"


async def test_a_password_change_ends_every_session(log_path, web_env):
    ds = await guarded(log_path)
    cookie = (await log_in(ds, PASSWORD)).cookies["ds_actor"]
    web_env.setenv("DATASETTE_PASSWORD_HASH", hash_password("a new password", iterations=FAST))
    assert (await page_with(ds, cookie)).status_code == 302
    assert (await log_in(ds, "a new password")).status_code == 302


async def test_a_cookie_of_the_old_shape_without_expiry_is_refused(log_path, web_env):
    ds = await guarded(log_path)
    forever = ds.sign({"a": {"id": "admin"}}, "actor")  # what datasette-auth-passwords issued
    assert (await page_with(ds, forever)).status_code == 302
    for header in (f"ds_actor ={forever}", f'x=1; ds_actor="{forever}"', f"ds_actor=junk; ds_actor={forever}"):
        assert (await fetch(ds, "GET", PAGE, headers={"Cookie": header})).status_code == 302, header


async def test_a_second_authorization_header_cannot_slip_past_the_check(log_path, web_env):
    ds = await guarded(log_path, {"login_failures": 2, "login_window_seconds": 60})
    headers = [("Authorization", "Bearer x"), ("Authorization", basic("admin", PASSWORD)["Authorization"])]
    assert (await fetch(ds, "GET", PAGE, headers=headers)).status_code == 401
    assert (await fetch(ds, "GET", PAGE, headers={"Authorization": "Bearer x"})).status_code == 401


async def test_forged_altered_and_expired_cookies_are_refused(log_path, web_env):
    secret = "s" * 64
    ds = await guarded(log_path, secret=secret)
    cookie = (await log_in(ds, PASSWORD)).cookies["ds_actor"]
    payload = ds.unsign(cookie, "actor")
    other = await guarded(log_path, secret="t" * 64)
    expired = ds.sign({**payload, "e": baseconv.base62.encode(int(time.time()) - 1)}, "actor")
    assert (await page_with(ds, cookie)).status_code == 200
    for bad in (cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"), other.sign(payload, "actor"), expired):
        assert (await page_with(ds, bad)).status_code == 302
    restarted = await guarded(log_path, secret=secret)  # DATASETTE_SECRET set: logins survive a restart
    assert (await page_with(restarted, cookie)).status_code == 200


async def test_login_ignores_a_next_redirect_to_another_host(log_path, web_env):
    ds = await guarded(log_path)
    response = await log_in(ds, PASSWORD, params={"next": "https://evil.example/"})
    assert response.status_code == 302 and response.headers["location"] == "/"


# 6. Unknown URLs and methods


@pytest.mark.parametrize("method, path, headers, status", [
    ("GET", "/conversation_logs/conversations/-/nope", basic("admin", PASSWORD), 404),
    ("GET", "/conversation_logs/conversations/-/nope", {}, 404),
    ("GET", "/nope.json", basic("admin", PASSWORD), 404),
    ("TRACE", "/", {}, 405),
    ("PROPFIND", "/conversation_logs", basic("admin", PASSWORD), 405),
    ("GET", "/", {"Authorization": "Basic abc"}, 401),
    ("GET", "/", {"Authorization": "Basic " + base64.b64encode(b"\xff:x").decode()}, 401),
])
async def test_unknown_urls_and_methods_answer_cleanly(log_path, web_env, capsys, method, path, headers, status):
    ds = await guarded(log_path)
    response = await fetch(ds, method, path, headers=headers)
    assert response.status_code == status
    assert "Traceback" not in capsys.readouterr().err


async def test_a_public_web_process_ignores_a_malformed_basic_header(log_path, web_env):
    web_env.setenv("DATASETTE_PUBLIC", "1")
    web_env.delenv("DATASETTE_PASSWORD_HASH")
    ds = await guarded(log_path)
    assert (await fetch(ds, "GET", PAGE, headers={"Authorization": "Basic abc"})).status_code == 200


# 7. One query's size


def run_sql(ds, sql: str, suffix: str = ".json"):
    return fetch(ds, "GET", f"/conversation_logs{suffix}", params={"sql": sql}, headers=basic("admin", PASSWORD))


@pytest.mark.parametrize("size", [4 * 2**20 + 1, 1_000_000_000])
async def test_a_huge_value_is_refused_at_once(log_path, web_env, size):
    ds = await guarded(log_path)
    started = time.perf_counter()
    response = await run_sql(ds, f"select length(randomblob({size}))")
    assert response.status_code == 400 and "too big" in response.json()["error"]
    assert time.perf_counter() - started < 1.0


async def test_many_large_values_in_one_query_are_refused(log_path, web_env):
    ds = await guarded(log_path)
    sql = ("with recursive n(i) as (select 1 union all select i + 1 from n where i < 100) "
           "select zeroblob(1048576) from n")
    response = await run_sql(ds, sql, "")
    assert response.status_code == 400 and "returns more than 64 MB" in response.text


async def test_real_rows_with_long_values_still_read(log_path, web_env):
    limits = plugin("query_limits")
    long_reply = "é" * 30_000  # beyond any reply the bot can log
    with sqlite3.connect(log_path) as conn:
        conn.execute("update conversations set bot_response = ?", [long_reply])
        conn.executemany("insert into conversations (user_id, user_name, channel_id, user_message, bot_response,"
                         " timestamp, tokens_used, model_used, message_id) values ('1', 'u', 'c', 'q', ?,"
                         " '2026-01-01 00:00:00', 0, 'm', ?)", [(long_reply, f"x{n}") for n in range(995)])
        conn.execute("update conversations set user_message = ? where id = 1", ["x" * (limits.MAX_VALUE_BYTES - 1)])
    ds = await guarded(log_path)
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


# 8. Scripts see a failed login


@pytest.mark.parametrize("authorization", [
    basic("admin", "wrong")["Authorization"], basic("nobody", PASSWORD)["Authorization"], "Basic !!!", "Basic ",
    "Basic " + base64.b64encode(b"admin:" + b"x" * 100_000).decode(),
])
async def test_bad_basic_credentials_get_401_with_a_challenge(log_path, web_env, authorization):
    ds = await guarded(log_path)
    response = await fetch(ds, "GET", "/conversation_logs/conversations.csv", headers={"Authorization": authorization})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic realm=")
    assert "user_message" not in response.text


# The same through a real `datasette serve` on 127.0.0.1


NO_RICH = "import sys; sys.modules['rich'] = None; from datasette.cli import cli; cli()"  # `import rich` fails


async def serve(log_path, without_rich: bool = False):
    port = closed_port()
    command = ["-c", NO_RICH] if without_rich else ["-m", "datasette"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command, "serve", *serve_args(log_path, port), cwd=PROJECT, env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(base + "/robots.txt") as response:
                    if response.status == 200:
                        return process, base
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError((await process.communicate())[1].decode())


async def timed_get(session, url: str) -> float:
    started = time.perf_counter()
    async with session.get(url) as response:
        await response.read()
    return time.perf_counter() - started


async def guess(base: str, address: str) -> int:
    """A wrong Basic login from a loopback address of its own (the whole 127/8 is this machine)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0))) as session:
        async with session.get(base + PAGE, headers=basic("admin", "guess"), allow_redirects=False) as r:
            return r.status


async def test_guessing_from_many_addresses_does_not_stall_other_visitors(log_path, web_env):
    web_env.setenv("DATASETTE_PASSWORD_HASH", hash_password(PASSWORD))  # the real cost: ~95 ms a check
    process, base = await serve(log_path)
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


@pytest.mark.parametrize("without_rich", [False, True], ids=["with rich", "without rich"])
async def test_unknown_urls_print_no_traceback(log_path, web_env, without_rich):
    process, base = await serve(log_path, without_rich)
    auth = {"Authorization": basic("admin", PASSWORD)["Authorization"]}
    probes = [("GET", "/conversation_logs/conversations/-/nope", auth, 404), ("TRACE", "/", {}, 405),
              ("GET", "/", {"Authorization": "Basic abc"}, 401), ("GET", "/nope", auth, 404)]
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


async def test_a_script_with_a_wrong_password_fails_instead_of_saving_nothing(log_path, web_env, tmp_path):
    process, base = await serve(log_path)
    export, url = tmp_path / "export.csv", base + "/conversation_logs/conversations.csv?_stream=on"
    try:
        codes = []
        for password in ("wrong", PASSWORD):
            curl = await asyncio.create_subprocess_exec("curl", "-sf", "-u", f"admin:{password}", "-o", export, url)
            codes.append(await curl.wait())
    finally:
        await stop(process)
    assert codes == [22, 0] and export.read_text().startswith("id,user_id")  # 22: curl -f saw an HTTP error


async def test_the_procfile_web_process_refuses_an_empty_password_in_one_line(log_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASETTE_")}
    line = next(l for l in (PROJECT / "Procfile").read_text().splitlines() if l.startswith("web:"))
    process = await asyncio.create_subprocess_shell(
        line.removeprefix("web:"), cwd=PROJECT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env={**env, "PORT": str(closed_port()), "CONVERSATION_LOG_DB": str(log_path),
             "DATASETTE_PASSWORD_HASH": hash_password(""), "PATH": f"{os.path.dirname(sys.executable)}:{env['PATH']}"})
    try:
        _, err = await asyncio.wait_for(process.communicate(), 30)
    except TimeoutError:
        os.killpg(process.pid, signal.SIGTERM)
        raise AssertionError("the web process started with the hash of an empty password") from None
    lines = [l for l in err.decode().splitlines() if "DATASETTE_PASSWORD_HASH" in l]
    assert process.returncode == 1 and len(lines) == 1 and "empty password" in lines[0]
    assert "Traceback" not in err.decode()
