"""What the book agent keeps of one symbol, as one table value. Pure.

As with trades (tables/trade_state.py): the latest top of book and the three open
spread windows used to be four table values, four changelog writes per symbol and
batch; with 200 symbols sending a conflated book ticker a second, the largest share of
the worker's changelog writes. ``BookState`` holds them in one value. A window closed
by a later book ticker goes to its windowed table once (tables/open_windows.py).

Exact under at-least-once delivery: the top of book's ``update_id`` is the highest book
update id counted anywhere in the value (a symbol's update ids reach the agent in
order), so ``advance_book`` skips every book ticker not above it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from cryptoflow.records import BookTicker, Record, format_ts
from cryptoflow.tables.open_windows import ClosedWindow, OpenSpreadWindow, move_windows
from cryptoflow.tables.trade_stats import SpreadStats
from cryptoflow.tables.windows import WINDOWS, WindowSpec


class TopOfBook(Record, serializer="json", include_metadata=False):
    """A symbol's latest best bid and ask, as ``/api/book/{symbol}/`` serves them."""

    symbol: str
    update_id: int
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    spread_bps: float
    ts: str  # when cryptoflow received it (ISO 8601)

    @classmethod
    def of(cls, book: BookTicker) -> TopOfBook:
        return cls(symbol=book.symbol, update_id=book.update_id, bid=book.bid,
                   bid_qty=book.bid_qty, ask=book.ask, ask_qty=book.ask_qty,
                   spread_bps=book.spread_bps, ts=format_ts(book.ts))


class BookState(Record, serializer="json", include_metadata=False):
    """One symbol's latest top of book and open spread windows (by window name)."""

    top: TopOfBook
    windows: dict[str, OpenSpreadWindow]


class BookAdvanced(NamedTuple):
    """What ``advance_book`` returns: the new state, the windows the book tickers closed
    and those of windows before the open ones."""

    state: BookState
    closed_windows: list[ClosedWindow[SpreadStats]]
    past: list[tuple[str, list[BookTicker]]]  # (window name, book tickers of one window)


def advance_book(
    state: BookState | None, books: Sequence[BookTicker],
    windows: Mapping[str, WindowSpec] = WINDOWS,
) -> BookAdvanced | None:
    """``state`` with a symbol's ``books`` (in stream order) counted; None when all of
    them were counted before. ``state`` is not changed (a table value)."""
    counted = state.top.update_id if state is not None else -1
    fresh = [book for book in books if book.update_id > counted]
    if not fresh:
        return None
    newest = max(fresh, key=lambda book: book.update_id)
    moved = move_windows(
        state.windows if state is not None else {}, fresh, SpreadStats.of, OpenSpreadWindow,
        windows)
    return BookAdvanced(
        BookState(top=TopOfBook.of(newest), windows=moved.opened),
        moved.closed, moved.past,
    )
