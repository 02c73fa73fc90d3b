"""Datasette's login and per-address checks, driven through its ASGI app: the web security tests' requests."""

from __future__ import annotations

import base64
import importlib.util

import httpx

from tests.support.web import PLUGINS, datasette_for

PASSWORD = "correct horse battery staple"


FAST = 1000  # hash iterations where the test does not measure time


PAGE = "/conversation_logs/stats.json"


def plugin(name: str):
    spec = importlib.util.spec_from_file_location(f"test_{name}", PLUGINS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def guarded(log_path, config: dict | None = None, secret: str | None = None):
    ds = datasette_for(log_path, config, secret)
    await ds.invoke_startup()
    return ds


async def fetch(ds, method: str, path: str, address: str = "127.0.0.1", scheme: str = "http", cookies=None, **kwargs):
    """One request from `address`, with no cookie kept between requests."""
    transport = httpx.ASGITransport(app=ds.client.app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://localhost", cookies=cookies) as client:
        return await client.request(method, path, **kwargs)


async def log_in(ds, password: str, address: str = "127.0.0.1", scheme: str = "http", **kwargs):
    token = (await fetch(ds, "GET", "/-/login", address, scheme)).cookies["ds_csrftoken"]
    return await fetch(
        ds,
        "POST",
        "/-/login",
        address,
        scheme,
        cookies={"ds_csrftoken": token},
        data={"username": "admin", "password": password, "csrftoken": token},
        **kwargs,
    )


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
