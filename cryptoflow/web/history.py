"""The history API: recorded candles by range, in pages, as JSON or CSV.

``GET /api/candles/{symbol}/?interval=1m|5m|1h&start=&end=&limit=&format=json|csv``.
Any worker answers (the candles are in MongoDB, not in a table), with at most
``MAX_LIMIT`` candles a request and bounded reads (``cryptoflow.readback``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from faust.web import Request, Response

from cryptoflow.app import app
from cryptoflow.exceptions import ApiError, HistoryTooDense
from cryptoflow.readback import Page, candle_page
from cryptoflow.tables.series import CANDLE_COLUMNS, Interval, public_candle
from cryptoflow.web import api, paging
from cryptoflow.web.views import ApiView, database_read

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


async def read_candles(
    symbol: str, interval: Interval, start: datetime, end: datetime, limit: int,
    now: datetime,
) -> Page:
    """The one database read of this API, bounded and shared like every web read
    (``database_read``: a failing database is a 503)."""
    try:
        return await database_read(
            ("candles", symbol, interval.name, start, end, limit, now.replace(microsecond=0)),
            lambda: candle_page(app.store, symbol, interval, start, end, limit, now))
    except HistoryTooDense as err:
        raise ApiError(503, str(err)) from None


@app.page("/api/candles/{symbol}/")
class CandlesView(ApiView):
    """Candles oldest first; ``next`` (body, or the ``Link`` header with CSV) is the URL
    of the following page, null on the last."""

    async def get(self, request: Request, symbol: str) -> Response:
        symbol = api.parse_symbol(symbol, app.settings.symbols)
        query = request.query
        interval = api.parse_interval(query)
        limit = api.parse_count(query, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        fmt = paging.parse_format(query, request.headers.get("Accept", ""))
        now = datetime.now(UTC)
        start, end = paging.parse_range(query, now, interval.size * limit)
        page = await read_candles(symbol, interval, start, end, limit, now)
        rows = [public_candle(doc, now) for doc in page.candles]
        next_url = None if page.next is None else str(request.url.with_query(paging.next_query({
            "interval": interval.name, "start": page.next, "end": end, "limit": limit,
            "format": query.get("format")})))
        if fmt == "csv":
            return self.text(paging.csv_text(CANDLE_COLUMNS, rows), content_type=paging.CSV_TYPE,
                             headers=paging.link_header(next_url) if next_url else None)
        return self.json({"symbol": symbol, "interval": interval.name, "candles": rows,
                          "next": next_url})
