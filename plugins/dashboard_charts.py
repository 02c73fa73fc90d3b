"""Serves dashboard_charts.js, the script templates/dashboard_*.html load after datasette-dashboards' own:
its table and metric charts write query results as text (see the script). A plugins-dir plugin has no
static directory of its own, hence this route."""

from pathlib import Path
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response

PATH = "/-/conversation-log/dashboard-charts.js"
SCRIPT = Path(__file__).with_name("dashboard_charts.js")


async def dashboard_charts(request: Any) -> Response:
    return Response(
        SCRIPT.read_text(), content_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(f"^{PATH}$", dashboard_charts)]
