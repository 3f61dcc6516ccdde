"""A query parameter given twice is a 400 naming it, on every API view (which of the
values was meant cannot be told), through the handler aiohttp calls for a GET."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from cryptoflow.app import app
from cryptoflow.web.views import ApiView

API_PATHS = sorted(path for path, view in app.web.views.items() if isinstance(view, ApiView))
PLACEHOLDER = re.compile(r"{(\w+)[^}]*}")


def get_handler(path: str) -> Callable[[Any], Awaitable[Any]]:
    """What aiohttp calls for a GET of ``path`` (its canonical form has no patterns)."""
    canonical = PLACEHOLDER.sub(lambda match: f"{{{match[1]}}}", path)
    (resource,) = [r for r in app.web.web_app.router.resources()  # type: ignore[attr-defined]  # app.web is faust's aiohttp Web
                   if r.canonical == canonical]
    return next(route.handler for route in resource if route.method == "GET")


def test_every_api_view_is_checked() -> None:
    assert {"/api/candles/{symbol}/", "/api/trades/{symbol}/", "/api/stats/{symbol}/",
            "/api/prices/latest/", "/api/alerts/", "/api/streams/",
            "/api/{path:.*}"} <= set(API_PATHS)


@pytest.mark.asyncio
@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize(("query", "param"), [
    ("limit=1&limit=1000", "limit"), ("window=1m&window=1m", "window"), ("a=1&b=2&b=", "b")])
async def test_a_repeated_parameter_is_a_400_naming_it(path: str, query: str, param: str) -> None:
    info = {name: "BTCUSDT" if name == "symbol" else "no/such"
            for name in PLACEHOLDER.findall(path)}
    url = PLACEHOLDER.sub(lambda match: info[match[1]], path)
    response = await get_handler(path)(
        make_mocked_request("GET", f"{url}?{query}", match_info=info, app=app.web.web_app))
    assert response.status == 400
    assert json.loads(response.body)["error"] == {
        "status": 400, "param": param, "message": f"{param} is given 2 times; give it once"}
