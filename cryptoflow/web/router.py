"""faust's router, with a JSON 404 for a table it does not have.

faust's own ``/router/{name}/`` and ``/router/{name}/{key}/`` pages look the table up
with ``app.tables[name]``: an unknown name raised ``KeyError``, a plain-text 500 (or a
503 saying the worker is not ready). Its ``/table/`` pages answer the same case with a
JSON 404 (``NotFound``), and so do these now.
"""

from __future__ import annotations

from faust.app.router import Router
from faust.types import CollectionT
from faust.web.exceptions import NotFound

MAX_NAME_CHARS = 64


class CryptoflowRouter(Router):
    """faust's ``Router``; only the lookup of a table by name differs."""

    def _get_table(self, name: str) -> CollectionT:
        try:
            return super()._get_table(name)
        except KeyError:
            raise NotFound("unknown table", name=name[:MAX_NAME_CHARS]) from None
