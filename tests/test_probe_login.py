"""A probe of the login's `next=` (plugins/login_guard.py's same_site_path): the forms that held are listed in
the report; a very long one was sent back whole as the redirect's Location."""

from __future__ import annotations

import pytest

from bot.store import migrate
from tests.support.web_auth import PASSWORD, fetch, guarded

# Each stays on this site and must come back exactly (encoded forms are paths, not hosts, to a browser).
KEPT = ["/%5Cevil.example", "/%2F%2Fevil.example", "/%0d%0aSet-Cookie:%20a=b", "/conversation_logs?sql=select+1"]


async def log_in_to(ds, target: str):
    token = (await fetch(ds, "GET", "/-/login")).cookies["ds_csrftoken"]
    data = {"username": "admin", "password": PASSWORD, "csrftoken": token, "next": target}
    return await fetch(ds, "POST", "/-/login", cookies={"ds_csrftoken": token}, data=data)


@pytest.fixture
async def ds(tmp_path, web_env):
    path = tmp_path / "conversation_logs.db"
    migrate(path)
    return await guarded(path)


async def test_a_very_long_next_lands_on_the_home_page(ds):
    # 100 KB came back as a 100 KB Location header, past what proxies in front accept (nginx: 4 to 8 KB).
    landed = await log_in_to(ds, "/" + "a" * 100_000)
    assert landed.status_code == 302 and landed.headers["location"] == "/"


@pytest.mark.parametrize("target", KEPT)
async def test_encoded_forms_stay_paths_on_this_site(ds, target):
    landed = await log_in_to(ds, target)
    assert landed.status_code == 302 and landed.headers["location"] == target
