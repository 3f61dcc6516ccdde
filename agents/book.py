"""Keep the top of book and the spread windows of every streamed symbol.

Reads the ``book`` topic: per symbol and ``CRYPTOFLOW_BOOK_INTERVAL``, one conflated
book ticker (the latest bid and ask, and the spread statistics of every update it
stands for; cryptoflow/sources/market.py). Book updates are not stored one by one
(a busy symbol sends hundreds a second): the latest top of book lives in the
``latest-books`` table, the 1m/5m/1h windows hold mean and widest spread. Values carry
the newest update id they counted, so a message read again counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cryptoflow.agents.batches import (
    acting_for,
    add_to_windows,
    checked_by_symbol,
    written_batches,
)
from cryptoflow.app import app
from cryptoflow.broker.topics import book_topic, symbol_partition
from cryptoflow.records import BookTicker, format_ts, parse_book
from cryptoflow.tables.market_tables import latest_books, spread_windows
from cryptoflow.tables.trade_stats import SpreadStats
from cryptoflow.web.livefeed import book_event


def uncounted_books(part: Sequence[BookTicker], current: SpreadStats) -> SpreadStats | None:
    fresh = SpreadStats.of(part, after_id=current.update_id)
    return fresh if fresh.updates else None


@app.agent(book_topic)
async def record_book(stream: Any) -> None:
    async for events in written_batches(
        stream, app.settings.batch_size, app.settings.batch_linger,
    ):
        parse = partial(parse_book, symbols=app.settings.symbols, now=datetime.now(UTC))
        for symbol, group in (await checked_by_symbol(events, parse, symbol_partition)).items():
            books = [book for _, book in group]
            newest = max(books, key=lambda book: book.update_id)
            with acting_for(group[-1][0]):
                latest = latest_books.get(symbol)
                if latest is None or newest.update_id > latest["update_id"]:
                    latest_books[symbol] = {
                        "symbol": symbol, "update_id": newest.update_id, "bid": newest.bid,
                        "bid_qty": newest.bid_qty, "ask": newest.ask, "ask_qty": newest.ask_qty,
                        "spread_bps": newest.spread_bps, "ts": format_ts(newest.ts),
                    }
                add_to_windows(spread_windows, symbol, books, uncounted_books)
            if app.live_feed.subscribers:
                app.live_feed.publish(book_event(symbol, newest))
