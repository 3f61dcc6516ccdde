"""Keep the top of book and the spread windows of every streamed symbol.

Reads the ``book`` topic: per symbol and ``CRYPTOFLOW_BOOK_INTERVAL``, one conflated
book ticker (the latest bid and ask, and the spread statistics of every update it
stands for; cryptoflow/sources/market.py). Book updates are not stored one by one
(a busy symbol sends hundreds a second): per symbol, one value of the ``book-state``
table holds the latest top of book and the open 1m/5m/1h windows of mean and widest
spread (tables/book_state.py), one changelog write per symbol and batch; closed windows
go to their windowed tables. The state carries the newest update id it counted, so a
message read again counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cryptoflow.agents.batches import (
    acting_for,
    checked_by_symbol,
    write_windows,
    written_batches,
)
from cryptoflow.app import app
from cryptoflow.broker.topics import book_topic, symbol_partition
from cryptoflow.records import BookTicker, parse_book
from cryptoflow.tables.book_state import advance_book
from cryptoflow.tables.market_tables import book_states, spread_windows
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
            advanced = advance_book(book_states.get(symbol), [book for _, book in group])
            if advanced is None:
                continue
            with acting_for(group[-1][0]):
                # Closed windows before the state: a stop in between writes them again.
                write_windows(spread_windows, symbol, advanced.closed_windows,
                              advanced.past, uncounted_books)
                book_states[symbol] = advanced.state
            if app.live_feed.subscribers:
                app.live_feed.publish(book_event(advanced.state.top))
