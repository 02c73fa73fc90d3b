"""Deny every page to anonymous visitors when the web process requires a login.

The Procfile's web process sets DATASETTE_REQUIRE_LOGIN=1 (plugins.conversation-log.require_login);
datasette-auth-passwords provides /-/login and HTTP Basic auth. DATASETTE_PUBLIC=1 opts out.
"""

from datasette import hookimpl


def login_required(datasette) -> bool:
    config = datasette.plugin_config("conversation-log") or {}
    flag = lambda name: str(config.get(name) or "").strip().lower() in {"1", "true", "yes", "on"}
    return flag("require_login") and not flag("public")


@hookimpl
def permission_allowed(datasette, actor, action, resource):
    if action == "view-instance" and actor is None and login_required(datasette):
        return False
    return None
