"""A Content-Security-Policy on every response: a script runs only when a template wrote its <script> tag.

Each request gets a fresh nonce. The Jinja extension below adds `nonce="..."` to every literal `<script` in
the *source* of every template (Datasette's, the plugins', ours), before it is compiled; text rendered into a
page (a display name, a message) is never template source, so markup injected through it gets no nonce and
its inline scripts and `on...=` handlers are refused by the browser. Datasette 0.65 and its plugins write
inline scripts (closing menus, the SQL editor, the table's facet flag, the dashboards' chart calls,
datasette-leaflet's URLs, the notebook export): with nonces they keep working, with no list of hashes to
keep in step with upgrades.

'unsafe-eval': Vega compiles its charts' expressions with `Function`, and the Vega that datasette-dashboards
0.8 bundles (with Vega-Lite 6.4.1) has no CSP-safe interpreter: without it every dashboard chart reported a
`script-src eval` violation and drew nothing. It lets no inline script or handler run.
Styles stay inline-allowed: Datasette's templates and Vega set style attributes and <style> blocks.
"""

from __future__ import annotations

import contextvars
import re
import secrets

from datasette import hookimpl
from jinja2.ext import Extension

NONCE_BYTES = 18  # 144 bits, base64url: 24 characters
HEADER = b"content-security-policy"
POLICY = (
    "default-src 'self'; script-src 'nonce-{nonce}' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)
# `<script` followed by a space, `>` or a Jinja tag (base.html writes `<script{% if ... %}>`).
SCRIPT_TAG = re.compile(r"<script(?=[\s>{])", re.IGNORECASE)

_nonce: contextvars.ContextVar[str] = contextvars.ContextVar("csp_nonce", default="")


def current_nonce() -> str:
    return _nonce.get()


class ScriptNonces(Extension):
    """Adds the request's nonce to each <script> tag a template's source writes."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return SCRIPT_TAG.sub('<script nonce="{{ csp_nonce() }}"', source)


def with_policy(headers: list, nonce: str) -> list:
    kept = [(key, value) for key, value in headers if key.lower() not in (HEADER, b"x-content-type-options")]
    return [*kept, (HEADER, POLICY.format(nonce=nonce).encode()), (b"x-content-type-options", b"nosniff")]


@hookimpl
def prepare_jinja2_environment(env):
    env.add_extension(ScriptNonces)
    env.globals["csp_nonce"] = current_nonce


@hookimpl(trylast=True)  # the last wrapper is the outermost: its header is on every response, a 302 too
def asgi_wrapper(datasette):
    def wrap(app):
        async def content_security(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            nonce = secrets.token_urlsafe(NONCE_BYTES)
            token = _nonce.set(nonce)

            async def send_with_policy(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": with_policy(list(message.get("headers") or []), nonce)}
                await send(message)

            try:
                await app(scope, receive, send_with_policy)
            finally:
                _nonce.reset(token)

        return content_security

    return wrap
