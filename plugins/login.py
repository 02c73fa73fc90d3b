"""The login: anonymous visitors see nothing, and the admin proves who they are without stalling the server.

Config (metadata.yml, plugins.conversation-log): `require_login` (the Procfile's web process sets
DATASETTE_REQUIRE_LOGIN=1) and `public` (DATASETTE_PUBLIC=1 opts out); `behind_proxy`
(DATASETTE_BEHIND_PROXY=1: throttle by the proxy's X-Forwarded-For); `login_failures`,
`login_window_seconds` and `session_seconds` (defaults in login_guard.py).

datasette-auth-passwords keeps the accounts (`admin_password_hash`), `datasette hash-password`, the login
page's template and its menu link. Its own checks hash the password (~95 ms) inside Datasette's request
loop, stalling every visitor, so this plugin checks passwords itself, in a thread and throttled per address:
- `/-/login` is our route, listed before the library's, so the library's form handler is never reached;
- a Basic header is checked here and removed before Datasette sees it, so the library's actor_from_request
  never hashes; wrong credentials get 401 with WWW-Authenticate, which scripts understand;
- the ds_actor cookie carries an expiry, a session id (ended by /-/logout) and a fingerprint of the password
  hashes; a cookie failing any of them is removed from the request before Datasette reads it.
"""

from __future__ import annotations

import sys
import weakref
from pathlib import Path
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Request, Response
from itsdangerous import BadData

# Datasette runs each file here alone, by path, and `datasette serve`'s sys.path holds its bin/, not the
# project: with the project on the path, the other files import as the package `plugins`, once a process.
# First on the path, so a copy of plugins/ elsewhere (bench/login.py --before) imports its own files.
PROJECT = str(Path(__file__).resolve().parent.parent)
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)

from plugins import login_guard as guard  # noqa: E402 (after the path it needs)

LOGIN, LOGOUT, COOKIE = "/-/login", "/-/logout", "ds_actor"
ON = {"1", "true", "yes", "on"}
BASIC_CHALLENGE = 'Basic realm="conversation log", charset="UTF-8"'


def flag(config: dict, name: str) -> bool:
    return str(config.get(name) or "").strip().lower() in ON


class LoginState:
    """One Datasette's throttle, password checks and ended sessions (tests run many Datasettes at once)."""

    def __init__(self, config: dict):
        self.throttle = guard.Throttle(
            int(config.get("login_failures") or guard.LOGIN_FAILURES),
            float(config.get("login_window_seconds") or guard.LOGIN_WINDOW_SECONDS),
        )
        self.session_seconds = int(config.get("session_seconds") or guard.SESSION_SECONDS)
        self.behind_proxy = flag(config, "behind_proxy")
        self.checks = guard.PasswordChecks()
        self.revoked: dict[str, float] = {}

    async def check(self, key: str, accounts: dict, username: str, password: str) -> bool:
        self.throttle.attempt(key)
        if await self.checks.verify(accounts, username, password):
            self.throttle.forgive(key)
            return True
        return False


_states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def state_of(datasette) -> LoginState:
    if datasette not in _states:
        _states[datasette] = LoginState(datasette.plugin_config("conversation-log") or {})
    return _states[datasette]


def auth_config(datasette) -> dict:
    return datasette.plugin_config("datasette-auth-passwords") or {}


def actor_for(datasette, username: str) -> dict:
    return (auth_config(datasette).get("actors") or {}).get(username) or {"id": username}


def refusal(status: int, text: str, wait: int | None = None, challenge: bool = False) -> Response:
    headers = {"Retry-After": str(wait)} if wait else {}
    if challenge:
        headers["WWW-Authenticate"] = BASIC_CHALLENGE
    return Response.text(text, status=status, headers=headers)


def without(scope: dict, name: bytes) -> dict:
    return {**scope, "headers": [(key, value) for key, value in scope["headers"] if key.lower() != name]}


def without_cookie(scope: dict, cookies: dict, cookie: str) -> dict:
    """The scope with its Cookie headers replaced by one holding every cookie but `cookie`."""
    kept = "; ".join(f"{name}={value}" for name, value in cookies.items() if name != cookie)
    return {**scope, "headers": [*without(scope, b"cookie")["headers"], (b"cookie", kept.encode("latin-1"))]}


async def basic_auth(datasette, app, scope, receive, send, accounts: dict, authorizations: list[bytes]) -> None:
    """Check a Basic header in a thread; 429 while the address is throttled, 401 when wrong or not one."""
    state = state_of(datasette)
    key = guard.client_key(scope, state.behind_proxy)
    wait = state.throttle.retry_after(key)
    if wait:
        return await refusal(429, f"Too many failed logins: try again in {wait} s", wait).asgi_send(send)
    credentials = guard.basic_credentials(authorizations[0]) if len(authorizations) == 1 else None
    try:
        ok = credentials is not None and await state.check(key, accounts, *credentials)
    except guard.Busy:
        return await refusal(503, "Busy checking passwords: try again", 1).asgi_send(send)
    if not ok or credentials is None:  # without credentials, ok is False already
        if credentials is None:
            state.throttle.attempt(key)  # a malformed header is a failed login too
        return await refusal(401, "Wrong user name or password", challenge=True).asgi_send(send)
    scope = {**without(scope, b"authorization"), "actor": actor_for(datasette, credentials[0])}
    await app(scope, receive, send)


def checked_session(datasette, scope: dict, accounts: dict) -> tuple[dict, str | None]:
    """(scope, session id) with a valid ds_actor cookie; (scope without the cookie, None) otherwise."""
    cookies = Request(scope, None).cookies  # parsed exactly as Datasette will parse them
    if COOKIE not in cookies:
        return scope, None
    try:
        payload = datasette.unsign(cookies[COOKIE], "actor")
    except BadData:
        payload = None
    if guard.session_is_valid(payload, accounts, state_of(datasette).revoked):
        return scope, payload["s"]
    return without_cookie(scope, cookies, COOKIE), None


def ending_session(datasette, send, session_id: str):
    """The send of /-/logout: once Datasette has logged out (its redirect), the session ends for every copy."""

    async def revoking_send(message):
        if message["type"] == "http.response.start" and message["status"] in (302, 303):
            state = state_of(datasette)
            guard.revoke(state.revoked, session_id, state.session_seconds)
        await send(message)

    return revoking_send


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def login_guard(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            accounts = guard.accounts_of(auth_config(datasette))
            # Datasette 0.65 knows no other scheme, and the library's own check would hash (or crash on a
            # malformed header) in the request loop: no Authorization header goes past here.
            authorizations = [value for key, value in scope["headers"] if key.lower() == b"authorization"]
            if authorizations and accounts:
                return await basic_auth(datasette, app, scope, receive, send, accounts, authorizations)
            scope = without(scope, b"authorization")
            if not accounts:
                return await app(scope, receive, send)
            scope, session_id = checked_session(datasette, scope, accounts)
            if session_id and scope["path"] == LOGOUT and scope["method"] == "POST":
                send = ending_session(datasette, send, session_id)
            await app(scope, receive, send)

        return login_guard

    return wrap


async def login_page(datasette, request, error=None, status=200, wait=None, next_path="/") -> Response:
    context = {"error": error, "next_path": next_path}  # templates/password_login.html keeps it in the form
    html = await datasette.render_template("password_login.html", context, request=request)
    return Response.html(html, status=status, headers={"Retry-After": str(wait)} if wait else None)


async def login(request, datasette):
    """datasette-auth-passwords' form, with the password checked in a thread, throttled, and a session cookie."""
    if request.method != "POST":
        return await login_page(datasette, request, next_path=guard.same_site_path(request.args.get("next")))
    state = state_of(datasette)
    key = guard.client_key(request.scope, state.behind_proxy)
    post = await request.post_vars()
    next_path = guard.same_site_path(post.get("next") or request.args.get("next"))
    wait = state.throttle.retry_after(key)
    if wait:
        error = f"Too many failed logins: try again in {wait} s"
        return await login_page(datasette, request, error, 429, wait, next_path)
    username, accounts = post.get("username") or "", guard.accounts_of(auth_config(datasette))
    try:
        ok = await state.check(key, accounts, username, post.get("password") or "")
    except guard.Busy:
        return await login_page(datasette, request, "Busy checking passwords: try again", 503, 1, next_path)
    if not ok:
        return await login_page(datasette, request, "Invalid username or password", next_path=next_path)
    # next_path is a path on this site (or "/"): the page the visitor asked for before being sent here.
    response = Response.redirect(datasette.urls.path(next_path) if next_path == "/" else next_path)
    session = guard.new_session(actor_for(datasette, username), accounts, state.session_seconds)
    response.set_cookie(
        COOKIE,
        datasette.sign(session, "actor"),
        max_age=state.session_seconds,
        httponly=True,
        secure=guard.is_https(request.scope),
        samesite="lax",
    )
    return response


@hookimpl(tryfirst=True)
def register_routes():
    return [(r"^/-/login$", login)]


def login_required(datasette) -> bool:
    config = datasette.plugin_config("conversation-log") or {}
    return flag(config, "require_login") and not flag(config, "public")


@hookimpl
def permission_allowed(datasette, actor, action, resource):
    if action == "view-instance" and actor is None and login_required(datasette):
        return False
    return None


@hookimpl
def forbidden(datasette, request, message):
    """Anonymous visitors refused a page go to the login form, which brings them back to it; a JSON or CSV
    request (a script, or a download) gets 401 with a Basic challenge, not an HTML page it cannot read."""
    if request.actor is not None or not guard.accounts_of(auth_config(datasette)):
        return None
    if guard.wants_data(request.path):
        return refusal(401, f"Log in to read {request.path}: send a Basic Authorization header", challenge=True)
    asked = request.path + (f"?{request.query_string}" if request.query_string else "")
    return Response.redirect(datasette.urls.path(LOGIN) + "?" + urlencode({"next": asked}))
