"""The market-data endpoints: top of book, stored trades, and the state of the streams.

``/api/book/{symbol}/`` answers from the ``book-state`` table on the worker that owns
the symbol (routed there like the statistics). ``/api/trades/{symbol}/`` reads MongoDB
through cryptoflow/readback.py (oldest first, paged by trade id, the trades of a page
read by key: at most ``limit`` of them, and a day of candles to find where they resume).
``/api/streams/`` shows every worker's connections (each worker is asked for its own)
and the unfilled gaps recorded in MongoDB.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from faust.web import Request, Response
from yarl import URL

from cryptoflow.app import app
from cryptoflow.exceptions import ApiError
from cryptoflow.readback import TradePage, newest_trades, trade_page
from cryptoflow.sinks.mongo import GAPS
from cryptoflow.sources.market import market_streams
from cryptoflow.tables.book_state import BookState
from cryptoflow.tables.market_tables import book_states
from cryptoflow.web import api, market_api, paging
from cryptoflow.web.views import ROUTED_HEADER, ApiView, database_read, fetch_routed

GAPS_SHOWN = 100
DEFAULT_SPAN = timedelta(hours=1)


@app.page("/api/book/{symbol}/")
class BookView(ApiView):
    """The latest top of book of one symbol (from its conflated book tickers)."""

    async def get(self, request: Request, symbol: str) -> Response:
        symbol = api.parse_symbol(symbol, app.settings.symbols)

        def answer() -> dict[str, Any]:
            state: BookState | None = book_states.get(symbol)
            if state is None:
                raise ApiError(404, f"no book ticker of {symbol} yet", param="symbol")
            return state.top.asdict()

        return self.json(await self.from_owner(
            request, book_states.name, symbol, f"/api/book/{symbol}/", answer))


@app.page("/api/trades/{symbol}/")
class TradesView(ApiView):
    """Stored trades of one symbol, oldest first: ``?start=&end=&limit=&format=``, then
    ``next`` (the body, or the ``Link`` header with CSV) until it is null. Without
    ``start``, ``end`` or ``from_id``: the newest ``limit`` trades, as Binance's
    ``aggTrades`` answers, and ``next`` the trades after them."""

    async def get(self, request: Request, symbol: str) -> Response:
        symbol = api.parse_symbol(symbol, app.settings.symbols)
        query = request.query
        now = datetime.now(UTC)
        start, end = paging.parse_range(query, now, DEFAULT_SPAN)
        from_id = market_api.parse_trade_id(query, "from_id")
        limit = api.parse_count(query, "limit", market_api.TRADES_DEFAULT_LIMIT,
                                market_api.TRADES_MAX_LIMIT)
        fmt = paging.parse_format(query, request.headers.get("Accept", ""))

        if not {"start", "end", "from_id"} & set(query):
            newest = await database_read(
                ("newest trades", symbol, limit, now.replace(microsecond=0)),
                lambda: newest_trades(app.store, symbol, limit, now))
            following = {"from_id": newest[-1]["trade_id"] + 1} if newest else {}
            page = TradePage(newest, None)
        else:
            page = await database_read(
                ("trades", symbol, from_id, start, end, limit),
                lambda: trade_page(app.store, symbol, start, end, from_id, limit))
            cursor = page.next
            following = {} if cursor is None else {
                "start": cursor.start, "end": end, "from_id": cursor.from_id}
        rows = [market_api.trade_body(doc) for doc in page.trades]
        next_url = None if not following else str(request.url.with_query(paging.next_query({
            **following, "limit": limit, "format": query.get("format")})))
        if fmt == "csv":
            return self.text(
                paging.csv_text(market_api.TRADE_COLUMNS, rows), content_type=paging.CSV_TYPE,
                headers=paging.link_header(next_url) if next_url else None)
        return self.json({"symbol": symbol, "trades": rows, "next": next_url})


@app.page("/api/streams/")
class StreamsView(ApiView):
    """Every worker's stream connections and the unfilled gaps (newest first)."""

    async def get(self, request: Request) -> Response:
        local = {"worker": str(app.conf.canonical_url), **market_streams.status()}
        if request.headers.get(ROUTED_HEADER) is not None:
            return self.json(local)
        others = [URL(url) for url in app.router.tables_metadata()
                  if URL(url) != app.conf.canonical_url]
        answers = await asyncio.gather(
            *(fetch_routed(url.with_path("/api/streams/")) for url in others),
            return_exceptions=True)
        workers = [local]
        for url, answer in zip(others, answers, strict=True):
            if isinstance(answer, ApiError):
                workers.append({"worker": str(url), "error": answer.message})
            elif isinstance(answer, BaseException):
                raise answer
            else:
                workers.append(answer)
        gaps = await database_read(
            ("gaps",), lambda: app.store.recent(GAPS, {}, "recorded_at", GAPS_SHOWN))
        return self.json({
            "streams": list(app.settings.streams), "workers": workers,
            "unfilled_gaps": [market_api.gap_body(gap) for gap in gaps],
        })
