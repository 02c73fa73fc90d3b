"""Issue 20, item 8: owner-only pages that answered 500 to a crafted URL answer 4xx with one clear line.
Logged in as the owner (Basic credentials), through Datasette's real ASGI app."""

from __future__ import annotations

import pytest

from tests.support.web_auth import PASSWORD, basic, fetch, guarded

OWNER = basic("admin", PASSWORD)
TABLE = "/conversation_logs/conversations"


@pytest.mark.parametrize(
    "query, named",
    [
        ("_sort=nonexistent", "_sort"),
        ("_sort_desc=nonexistent", "_sort_desc"),
        ("_sort=id&_sort_desc=id", "_sort"),
    ],
)
@pytest.mark.parametrize("suffix", ["", ".json", ".transcript"])
async def test_a_bad_sort_is_a_400_naming_the_parameter(tiny_log_path, web_env, capsys, query, named, suffix):
    ds = await guarded(tiny_log_path)
    response = await fetch(ds, "GET", f"{TABLE}{suffix}?{query}", headers=OWNER)
    assert response.status_code == 400, response.text[:200]
    assert named in response.text
    assert "datasette: 500" not in capsys.readouterr().err


def transcript_of(select: str) -> str:
    return "/conversation_logs.transcript?sql=" + select


@pytest.mark.parametrize(
    "select",
    [
        "select 'x' as user_message, 'y' as bot_response, '[1]' as attachments",
        "select 'x' as user_message, 'y' as bot_response, '[{\"size\": \"a\"}]' as attachments",
        "select 'x' as user_message, 'y' as bot_response, '[{\"size\": null, \"name\": 3}]' as attachments",
        "select 'x' as user_message, 'y' as bot_response, '\"text\"' as attachments",
        "select 'x' as user_message, 'y' as bot_response, 1 as timestamp union all select 'a', 'b', 'c'",
        "select 'x' as user_message, 'y' as bot_response, 1 as id, 'a' as timestamp "
        "union all select 'a', 'b', 'c', 'a'",
    ],
)
async def test_a_crafted_transcript_query_renders_instead_of_a_500(tiny_log_path, web_env, capsys, select):
    ds = await guarded(tiny_log_path)
    response = await fetch(ds, "GET", transcript_of(select), headers=OWNER)
    assert response.status_code == 200, response.text[:300]
    assert response.text.count('class="turn user"') >= 1
    assert "datasette: 500" not in capsys.readouterr().err


async def test_unreadable_attachments_are_shown_as_such(tiny_log_path, web_env):
    ds = await guarded(tiny_log_path)
    select = (
        'select \'x\' as user_message, \'y\' as bot_response, \'[1, {"size": "a", "name": "f.png"}]\' as attachments'
    )
    text = (await fetch(ds, "GET", transcript_of(select), headers=OWNER)).text
    assert "attachment (unreadable): 1" in text and "f.png" in text
