"""The web's security holes (issue items 3-5 and 8: the login) and an attacker's probes, against Datasette's
real ASGI app from a chosen client address. Items 6-7 and the real `datasette serve` checks are in
test_security_web_errors.py."""

from __future__ import annotations

import asyncio
import base64
import threading
import time

import click
import pytest
from datasette.utils import baseconv
from datasette_auth_passwords.utils import hash_password

from tests.support.web_auth import FAST, PAGE, PASSWORD, basic, fetch, guarded, log_in, plugin


def set_cookie(response, name: str = "ds_actor") -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


# 3. An empty or malformed admin password hash


async def refusal(tiny_log_path) -> str:
    with pytest.raises(click.ClickException) as raised:
        await guarded(tiny_log_path)
    return raised.value.message


async def test_a_hash_of_the_empty_password_refuses_to_start(tiny_log_path, web_env):
    web_env.setenv("DATASETTE_PASSWORD_HASH", hash_password("", iterations=FAST))
    message = await refusal(tiny_log_path)
    assert "DATASETTE_PASSWORD_HASH" in message and "empty password" in message and "\n" not in message


GOOD = hash_password(PASSWORD, iterations=FAST)


@pytest.mark.parametrize(
    "bad",
    [
        "hunter2",
        GOOD.rsplit("$", 1)[0],
        GOOD.replace("pbkdf2_sha256", "md5", 1),
        GOOD[:-8],
        GOOD.replace("$1000$", "$many$"),
        GOOD.replace("$1000$", "$0$"),
    ],
)
async def test_a_malformed_hash_refuses_to_start(tiny_log_path, web_env, bad):
    web_env.setenv("DATASETTE_PASSWORD_HASH", bad)
    message = await refusal(tiny_log_path)
    assert message.startswith("conversation-log: DATASETTE_PASSWORD_HASH is not a hash") and "\n" not in message


async def test_a_good_hash_starts_and_the_empty_password_is_refused(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    assert (await fetch(ds, "GET", PAGE, headers=basic("admin", ""))).status_code == 401
    assert (await fetch(ds, "GET", PAGE, headers=basic("admin", PASSWORD))).status_code == 200


# 4. Throttling failed logins, per address


async def test_failed_logins_from_one_address_get_429_with_retry_after(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path, {"login_failures": 3, "login_window_seconds": 60})
    for _ in range(3):
        wrong = await log_in(ds, "guess", "203.0.113.5")
        assert wrong.status_code == 200 and "Invalid username or password" in wrong.text
    throttled = await log_in(ds, PASSWORD, "203.0.113.5")  # even the right password waits
    assert throttled.status_code == 429 and 50 <= int(throttled.headers["retry-after"]) <= 60
    assert "ds_actor" not in throttled.cookies
    by_script = await fetch(ds, "GET", PAGE, "203.0.113.5", headers=basic("admin", PASSWORD))
    assert by_script.status_code == 429 and int(by_script.headers["retry-after"]) > 0


async def test_basic_auth_guessing_is_throttled_too(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path, {"login_failures": 3, "login_window_seconds": 60})
    statuses = [
        (await fetch(ds, "GET", PAGE, "203.0.113.6", headers=basic("admin", f"guess{n}"))).status_code for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]


async def test_the_admin_at_another_address_is_not_locked_out(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path, {"login_failures": 3, "login_window_seconds": 60})
    for n in range(6):
        await fetch(ds, "GET", PAGE, "203.0.113.7", headers=basic("admin", f"guess{n}"))
    assert (await log_in(ds, "guess", "203.0.113.7")).status_code == 429
    admin = await log_in(ds, PASSWORD, "198.51.100.20")
    assert admin.status_code == 302 and admin.cookies["ds_actor"]
    assert (await fetch(ds, "GET", PAGE, "198.51.100.21", headers=basic("admin", PASSWORD))).status_code == 200


async def test_an_address_may_try_again_after_the_window_and_success_forgives(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path, {"login_failures": 2, "login_window_seconds": 1})
    assert [(await log_in(ds, "guess", "203.0.113.8")).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.05)
    assert (await log_in(ds, PASSWORD, "203.0.113.8")).status_code == 302
    assert [(await log_in(ds, "guess", "203.0.113.8")).status_code for _ in range(3)] == [200, 200, 429]


async def test_a_spoofed_forwarded_for_does_not_dodge_the_throttle(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path, {"login_failures": 3, "login_window_seconds": 60})
    statuses = [
        (await log_in(ds, "guess", "203.0.113.9", headers={"X-Forwarded-For": f"10.9.9.{n}"})).status_code
        for n in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]


async def test_behind_a_proxy_the_address_the_proxy_appended_counts(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path, {"login_failures": 3, "login_window_seconds": 60, "behind_proxy": "1"})
    proxy = "10.0.0.1"  # every request arrives from the platform's proxy
    attacker = [
        (await log_in(ds, "guess", proxy, headers={"X-Forwarded-For": f"10.9.9.{n}, 203.0.113.10"})).status_code
        for n in range(5)
    ]
    assert attacker == [200, 200, 200, 429, 429]
    admin = await log_in(ds, PASSWORD, proxy, headers={"X-Forwarded-For": "198.51.100.30"})
    assert admin.status_code == 302


async def test_ipv6_neighbours_in_one_64_share_a_throttle(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path, {"login_failures": 3, "login_window_seconds": 60})
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


async def test_the_session_cookie_is_httponly_samesite_and_expires(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    response = await log_in(ds, PASSWORD)
    header = set_cookie(response)
    assert "HttpOnly" in header and "samesite=lax" in header.lower() and "Secure" not in header
    max_age = int(header.split("Max-Age=")[1].split(";")[0])
    assert 0 < max_age <= 24 * 3600
    expires = baseconv.base62.decode(ds.unsign(response.cookies["ds_actor"], "actor")["e"])
    assert abs(expires - (time.time() + max_age)) < 5


@pytest.mark.parametrize("scheme, headers", [("https", {}), ("http", {"X-Forwarded-Proto": "https"})])
async def test_the_session_cookie_is_secure_over_https(tiny_log_path, web_env, scheme, headers):
    ds = await guarded(tiny_log_path)
    assert "Secure" in set_cookie(await log_in(ds, PASSWORD, scheme=scheme, headers=headers))


async def page_with(ds, cookie: str, address: str = "127.0.0.1"):
    return await fetch(ds, "GET", PAGE, address, cookies={"ds_actor": cookie})


async def test_a_copied_cookie_stops_working_after_logout(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    cookie = (await log_in(ds, PASSWORD)).cookies["ds_actor"]
    assert (await page_with(ds, cookie)).status_code == 200
    token = (await fetch(ds, "GET", "/-/logout", cookies={"ds_actor": cookie})).cookies["ds_csrftoken"]
    logout = await fetch(
        ds, "POST", "/-/logout", cookies={"ds_actor": cookie, "ds_csrftoken": token}, data={"csrftoken": token}
    )
    assert logout.status_code == 302
    copied = await page_with(ds, cookie, "192.0.2.99")
    assert copied.status_code == 401  # PAGE is JSON: refused, not sent to the login form (issue 24)


async def test_a_password_change_ends_every_session(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    cookie = (await log_in(ds, PASSWORD)).cookies["ds_actor"]
    web_env.setenv("DATASETTE_PASSWORD_HASH", hash_password("a new password", iterations=FAST))
    assert (await page_with(ds, cookie)).status_code == 401
    assert (await log_in(ds, "a new password")).status_code == 302


async def test_a_cookie_of_the_old_shape_without_expiry_is_refused(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    forever = ds.sign({"a": {"id": "admin"}}, "actor")  # what datasette-auth-passwords issued
    assert (await page_with(ds, forever)).status_code == 401
    for header in (f"ds_actor ={forever}", f'x=1; ds_actor="{forever}"', f"ds_actor=junk; ds_actor={forever}"):
        assert (await fetch(ds, "GET", PAGE, headers={"Cookie": header})).status_code == 401, header


async def test_a_second_authorization_header_cannot_slip_past_the_check(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path, {"login_failures": 2, "login_window_seconds": 60})
    headers = [("Authorization", "Bearer x"), ("Authorization", basic("admin", PASSWORD)["Authorization"])]
    assert (await fetch(ds, "GET", PAGE, headers=headers)).status_code == 401
    assert (await fetch(ds, "GET", PAGE, headers={"Authorization": "Bearer x"})).status_code == 401


async def test_forged_altered_and_expired_cookies_are_refused(tiny_log_path, web_env):
    secret = "s" * 64
    ds = await guarded(tiny_log_path, secret=secret)
    cookie = (await log_in(ds, PASSWORD)).cookies["ds_actor"]
    payload = ds.unsign(cookie, "actor")
    other = await guarded(tiny_log_path, secret="t" * 64)
    expired = ds.sign({**payload, "e": baseconv.base62.encode(int(time.time()) - 1)}, "actor")
    assert (await page_with(ds, cookie)).status_code == 200
    for bad in (cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"), other.sign(payload, "actor"), expired):
        assert (await page_with(ds, bad)).status_code == 401
    restarted = await guarded(tiny_log_path, secret=secret)  # DATASETTE_SECRET set: logins survive a restart
    assert (await page_with(restarted, cookie)).status_code == 200


async def test_login_ignores_a_next_redirect_to_another_host(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    response = await log_in(ds, PASSWORD, params={"next": "https://evil.example/"})
    assert response.status_code == 302 and response.headers["location"] == "/"


# 8. Scripts see a failed login


@pytest.mark.parametrize(
    "authorization",
    [
        basic("admin", "wrong")["Authorization"],
        basic("nobody", PASSWORD)["Authorization"],
        "Basic !!!",
        "Basic ",
        "Basic " + base64.b64encode(b"admin:" + b"x" * 100_000).decode(),
    ],
)
async def test_bad_basic_credentials_get_401_with_a_challenge(tiny_log_path, web_env, authorization):
    ds = await guarded(tiny_log_path)
    response = await fetch(ds, "GET", "/conversation_logs/conversations.csv", headers={"Authorization": authorization})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic realm=")
    assert "user_message" not in response.text
