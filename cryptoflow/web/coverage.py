"""The coverage ledger over HTTP: ``GET /api/coverage/{symbol}/?start=&end=&limit=&format=``.

One row per UTC hour of [start, end) (default: the last ``limit`` hours, 24, the current
one included), oldest first, at most
``MAX_LIMIT`` a page, with ``next`` like the history API (cryptoflow/ledger.py says what
a row holds). Any worker answers: the ledger is in MongoDB.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from faust.web import Request, Response

from cryptoflow.app import app
from cryptoflow.ledger import COLUMNS, HOUR, coverage_page
from cryptoflow.tables.series import floor_to
from cryptoflow.web import api, paging
from cryptoflow.web.views import ApiView, database_read

DEFAULT_LIMIT = 24
MAX_LIMIT = 24 * 31
MILLISECOND = timedelta(milliseconds=1)


@app.page("/api/coverage/{symbol}/")
class CoverageView(ApiView):
    """The ledger's hours; ``next`` (body, or the ``Link`` header with CSV) is the URL of
    the following page, null on the last."""

    async def get(self, request: Request, symbol: str) -> Response:
        symbol = api.parse_symbol(symbol, app.settings.symbols)
        query = request.query
        limit = api.parse_count(query, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        fmt = paging.parse_format(query, request.headers.get("Accept", ""))
        now = datetime.now(UTC)
        # by default the last ``limit`` hours, the current one included
        newest = floor_to(now, HOUR) - (limit - 1) * HOUR
        start, end = paging.parse_range(query, now, max(now - newest, MILLISECOND))
        page = await database_read(
            ("coverage", symbol, start, end, limit, now.replace(second=0, microsecond=0)),
            lambda: coverage_page(app.store, symbol, start, end, limit))
        next_url = None if page.next is None else str(request.url.with_query(paging.next_query({
            "start": page.next, "end": end, "limit": limit, "format": query.get("format")})))
        if fmt == "csv":
            return self.text(paging.csv_text(COLUMNS, page.rows), content_type=paging.CSV_TYPE,
                             headers=paging.link_header(next_url) if next_url else None)
        return self.json({"symbol": symbol, "hours": page.rows, "next": next_url})
