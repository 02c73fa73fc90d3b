"""Send anonymous visitors who were refused a page to the login form instead of a bare 403."""

from datasette import hookimpl
from datasette.utils.asgi import Response


@hookimpl
def forbidden(datasette, request, message):
    if request.actor is None and (datasette.plugin_config("datasette-auth-passwords") or {}).get("admin_password_hash"):
        return Response.redirect(datasette.urls.path("/-/login"))
    return None
