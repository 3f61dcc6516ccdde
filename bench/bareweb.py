"""The ceiling of benchmark 5: bare aiohttp handlers that return the worker's own bytes.

``python -m bench.bareweb PORT ANSWERS`` serves, until stopped, ``/api/stats/{symbol}/``
and ``/api/prices/latest/`` from ``ANSWERS`` (a JSON file: path -> the body the worker
answered there), with the worker's content type and no access log (faust's web server
keeps none either): aiohttp's routing and HTTP handling, nothing else, in one process
like the worker's web server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aiohttp import web


def build(answers: dict[str, bytes]) -> web.Application:
    def answer(path: str) -> web.Response:
        body = answers.get(path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    async def stats(request: web.Request) -> web.Response:
        return answer(f"/api/stats/{request.match_info['symbol']}/")

    async def latest(_request: web.Request) -> web.Response:
        return answer("/api/prices/latest/")

    app = web.Application()
    app.router.add_get("/api/stats/{symbol}/", stats)
    app.router.add_get("/api/prices/latest/", latest)
    return app


if __name__ == "__main__":
    bodies = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
    web.run_app(build({path: body.encode() for path, body in bodies.items()}),
                host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
