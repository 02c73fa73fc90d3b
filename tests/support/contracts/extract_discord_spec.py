"""Extract from Discord's official OpenAPI spec the routes the loopback fakes serve, and every schema,
response and header they reference (transitively), into discord-openapi-subset.json beside this file.

    .venv/bin/python -m tests.support.contracts.extract_discord_spec path/to/discord-openapi.json

The routes are read from the fakes themselves (FakeDiscord.build_app()), so a route added to a fake is
extracted on the next run; a served route the spec lacks stops the script with one line. The objects the
gateway's events carry (GATEWAY_OBJECTS) are kept too: the fake-fidelity tests check its payloads with them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tests.support.contracts.discord_rest import API_PREFIX, GATEWAY_OBJECTS, SUBSET_PATH, template_key

SOURCE = {
    "repository": "https://github.com/discord/discord-api-spec",
    "file": "specs/openapi.json",
    "commit": "74fda0fad044407ea280043a03ffc9bc64c4e49e",
    "licence": "MIT (discord-openapi.LICENSE)",
}
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
REF = re.compile(r'"\$ref": "#/components/(\w+)/([^"]+)"')


def served_routes() -> dict[str, set[str]]:
    """The REST routes the fakes serve: the aiohttp path template -> its methods (lower case)."""
    from tests.support.fake_discord import FakeDiscord

    routes: dict[str, set[str]] = {}
    for route in FakeDiscord().build_app().router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(API_PREFIX) and route.method != "HEAD":
            methods = HTTP_METHODS if route.method == "*" else (route.method.lower(),)
            routes.setdefault(path[len(API_PREFIX) :], set()).update(methods)
    return routes


def select_paths(spec: dict, routes: dict[str, set[str]]) -> dict:
    by_key = {template_key(path): path for path in spec["paths"]}
    paths = {}
    for route, methods in sorted(routes.items()):
        path = by_key.get(template_key(route))
        if path is None:
            sys.exit(f"the fakes serve {route}, which the spec does not have")
        item = spec["paths"][path]
        paths[path] = {key: value for key, value in item.items() if key not in HTTP_METHODS or key in methods}
    return paths


def referenced_components(spec: dict, root: dict) -> dict:
    """Every component reachable from `root` through $ref, by kind (schemas, responses, headers)."""
    found: dict[str, dict] = {}
    pending = [root]
    while pending:
        for kind, name in REF.findall(json.dumps(pending.pop())):
            if name not in found.setdefault(kind, {}):
                found[kind][name] = spec["components"][kind][name]
                pending.append(found[kind][name])
    return {kind: dict(sorted(items.items())) for kind, items in sorted(found.items())}


def extract(spec: dict) -> dict:
    paths = select_paths(spec, served_routes())
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "x-source": SOURCE,
        "servers": spec.get("servers", []),
        "paths": paths,
        "components": referenced_components(
            spec, {"paths": paths, "gateway": [{"$ref": f"#/components/schemas/{name}"} for name in GATEWAY_OBJECTS]}
        ),
    }


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m tests.support.contracts.extract_discord_spec PATH/TO/discord-openapi.json")
    try:
        spec = json.loads(Path(argv[0]).read_text())
    except (OSError, ValueError) as err:
        sys.exit(f"{argv[0]}: cannot read the spec ({err})")
    subset = extract(spec)
    SUBSET_PATH.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n")
    print(f"{SUBSET_PATH}: {len(subset['paths'])} paths, {len(subset['components']['schemas'])} schemas")


if __name__ == "__main__":
    main(sys.argv[1:])
