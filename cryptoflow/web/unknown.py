"""The last route under /api/: anything no view answers is a JSON 404, never faust's
plain-text one. Imported after every other view module (aiohttp tries routes in the
order they were added, and this one matches every path)."""

from __future__ import annotations

from faust.web import Request, Response

from cryptoflow.app import app
from cryptoflow.exceptions import ApiError
from cryptoflow.web.views import ApiView


@app.page("/api/{path:.*}")
class UnknownApiView(ApiView):
    async def get(self, request: Request, path: str) -> Response:
        raise ApiError(404, f"no such endpoint: /api/{path[:64]}")
