"""The GET of the pages answered from prepared bytes is a plain aiohttp handler on
faust's web application (not faust's view dispatch); their other methods stay faust's,
and a bad request still gets the views' JSON error."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from cryptoflow.app import app
from cryptoflow.web.views import PreparedView

PREPARED = ["/api/stats/{symbol}/", "/api/prices/latest/"]


def handlers(path: str) -> dict[str, Callable[..., Any]]:
    """The handler aiohttp calls for each method of ``path``."""
    resources = [r for r in app.web.web_app.router.resources() if r.canonical == path]  # type: ignore[attr-defined]  # app.web is faust's aiohttp Web
    assert len(resources) == 1  # one resource: no route of the path shadows another
    return {route.method: route.handler for route in resources[0]}


@pytest.mark.parametrize("path", PREPARED)
def test_get_of_a_prepared_page_skips_fausts_view_dispatch(path: str) -> None:
    view = app.web.views[path]
    assert isinstance(view, PreparedView)
    found = handlers(path)
    assert found["GET"] == view.answer_get
    assert set(found) == {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
    faust_dispatch = handlers("/api/health/")["GET"].__qualname__
    assert all(found[method].__qualname__ == faust_dispatch for method in set(found) - {"GET"})


@pytest.mark.asyncio
@pytest.mark.parametrize(("path", "symbol", "status", "param"), [
    ("/api/stats/DOGEUSDT/", "DOGEUSDT", 404, "symbol"),
    ("/api/stats/BTCUSDT/?window=7m", "BTCUSDT", 400, "window"),
    ("/api/stats/BTCUSDT/?at=yesterday", "BTCUSDT", 400, "at"),
])
async def test_a_bad_request_gets_the_views_json_error(
    path: str, symbol: str, status: int, param: str,
) -> None:
    view = app.web.views["/api/stats/{symbol}/"]
    assert isinstance(view, PreparedView)
    response = await view.answer_get(
        make_mocked_request("GET", path, match_info={"symbol": symbol}))
    assert response.status == status
    assert response.content_type == "application/json"
    body = json.loads(response.body)  # type: ignore[attr-defined]  # answer_get's answer is a web.Response
    assert body["error"]["status"] == status
    assert body["error"]["param"] == param
