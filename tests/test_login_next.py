"""Issue 24, login: after logging in you return to the page you asked for (a path on this site only), and an
anonymous JSON or CSV request gets 401 with a Basic challenge, not a 302 to an HTML form."""

from __future__ import annotations

import pytest

from tests.support.web_auth import PASSWORD, fetch, guarded, log_in

ASKED = "/conversation_logs/conversations?user_name=alice&_sort=id"
# Each is read by some browser as another site, or as script: the login must land on "/" instead.
OPEN_REDIRECTS = [
    "//evil.example",
    "//evil.example/conversation_logs",
    "https://evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "http:/evil.example",
    "",
]


async def test_an_anonymous_visitor_is_sent_to_the_login_and_back_to_the_page(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    refused = await fetch(ds, "GET", ASKED)
    assert refused.status_code == 302
    login_url = refused.headers["location"]
    assert login_url.startswith("/-/login?next=")
    form = await fetch(ds, "GET", login_url)
    assert 'name="next" value="/conversation_logs/conversations?user_name=alice&amp;_sort=id"' in form.text
    token = form.cookies["ds_csrftoken"]
    data = {"username": "admin", "password": PASSWORD, "csrftoken": token, "next": ASKED}
    landed = await fetch(ds, "POST", "/-/login", cookies={"ds_csrftoken": token}, data=data)
    assert landed.status_code == 302 and landed.headers["location"] == ASKED
    page = await fetch(ds, "GET", ASKED, cookies={"ds_actor": landed.cookies["ds_actor"]})
    assert page.status_code == 200


async def test_a_failed_login_keeps_the_page_to_return_to(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    token = (await fetch(ds, "GET", "/-/login")).cookies["ds_csrftoken"]
    data = {"username": "admin", "password": "wrong", "csrftoken": token, "next": ASKED}
    again = await fetch(ds, "POST", "/-/login", cookies={"ds_csrftoken": token}, data=data)
    assert again.status_code == 200 and "Invalid username or password" in again.text
    assert 'name="next" value="/conversation_logs/conversations?user_name=alice&amp;_sort=id"' in again.text


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
async def test_next_never_leaves_the_site(tiny_log_path, web_env, target):
    ds = await guarded(tiny_log_path)
    token = (await fetch(ds, "GET", "/-/login")).cookies["ds_csrftoken"]
    data = {"username": "admin", "password": PASSWORD, "csrftoken": token, "next": target}
    landed = await fetch(ds, "POST", "/-/login", cookies={"ds_csrftoken": token}, data=data)
    assert landed.status_code == 302 and landed.headers["location"] == "/", target
    by_query = await log_in(ds, PASSWORD, params={"next": target})
    assert by_query.headers["location"] == "/", target


@pytest.mark.parametrize(
    "path",
    [
        "/conversation_logs/stats.json",
        "/conversation_logs/conversations.json?_search=penguins",
        "/conversation_logs/conversations.csv?_stream=on&_dl=on",
        "/conversation_logs/daily_activity.csv",
        "/conversation_logs.json?sql=select+1",
    ],
)
async def test_an_anonymous_data_request_gets_401(tiny_log_path, web_env, path):
    ds = await guarded(tiny_log_path)
    response = await fetch(ds, "GET", path)
    assert response.status_code == 401, response.headers.get("location")
    assert response.headers["www-authenticate"].startswith("Basic")
    assert "Log in" in response.text and "<html" not in response.text.lower()


async def test_the_search_page_asks_for_the_login_and_comes_back_to_the_search(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    refused = await fetch(ds, "GET", "/conversation_logs/search?q=penguins")
    assert refused.status_code == 302
    assert refused.headers["location"] == "/-/login?next=%2Fconversation_logs%2Fsearch%3Fq%3Dpenguins"
