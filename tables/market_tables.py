"""The tables kept from the streams: trade and book state, closed trade and spread windows.

Keyed by symbol (JSON keys), partitioned like the ``trades`` and ``book`` topics, so
the worker that reads a symbol's trades holds its tables (and streams the symbol,
cryptoflow/sources/market.py). Every value carries the highest trade id (or book
update id) it counted: a redelivered record is recognised and counted nowhere twice.
Windows are tumbling and placed by the record's own time (``relative_to(ts)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptoflow.app import app
from cryptoflow.tables.book_state import BookState
from cryptoflow.tables.open_windows import open_stats
from cryptoflow.tables.trade_state import TradeState
from cryptoflow.tables.trade_stats import SpreadStats, TradeStats
from cryptoflow.tables.windows import WINDOWS, WindowSpec

_partitions = app.settings.topic_partitions

# Each symbol's forming 1-minute candle and open trade windows, one value so that a
# batch costs one changelog write (tables/trade_state.py); its last_trade_id is also
# where a stream of that symbol resumes after a restart or a handover.
trade_states = app.Table(
    "trade-state", key_type=str, value_type=TradeState, partitions=_partitions,
)

# Each symbol's latest top of book and open spread windows, one value for the same
# reason (tables/book_state.py).
book_states = app.Table(
    "book-state", key_type=str, value_type=BookState, partitions=_partitions,
)

# The trade windows once closed (the open ones are in trade_states).
trade_windows = {
    spec.name: app.Table(
        f"trade-stats-{spec.name}", default=TradeStats, key_type=str, value_type=TradeStats,
        partitions=_partitions,
    ).tumbling(spec.size, expires=spec.expires).relative_to_now()
    for spec in WINDOWS.values()
}

# The spread windows once closed (the open ones are in book_states).
spread_windows = {
    spec.name: app.Table(
        f"spread-stats-{spec.name}", default=SpreadStats, key_type=str,
        value_type=SpreadStats, partitions=_partitions,
    ).tumbling(spec.size, expires=spec.expires).relative_to_now()
    for spec in WINDOWS.values()
}


def trade_window(spec: WindowSpec, symbol: str, at: datetime) -> TradeStats:
    """The trade statistics of ``symbol``'s window of ``spec`` holding ``at``."""
    stats: TradeStats = _window(trade_states, trade_windows, spec, symbol, at)
    return stats


def spread_window(spec: WindowSpec, symbol: str, at: datetime) -> SpreadStats:
    """The spread statistics of ``symbol``'s window of ``spec`` holding ``at``."""
    stats: SpreadStats = _window(book_states, spread_windows, spec, symbol, at)
    return stats


def streamed_windows(
    spec: WindowSpec, symbol: str, at: datetime,
) -> tuple[TradeStats | None, SpreadStats | None]:
    """``trade_window`` and ``spread_window``, as ``api.window_fields`` takes them:
    (None, None) on a worker that records no streams (its answers have no trade or book
    fields)."""
    if not app.settings.streams:
        return None, None
    return trade_window(spec, symbol, at), spread_window(spec, symbol, at)


def _window(
    states: Mapping[str, Any], closed: Mapping[str, Any], spec: WindowSpec, symbol: str,
    at: datetime,
) -> Any:
    """The open window from the symbol's state, else a closed one from its windowed
    table (empty if it had none)."""
    state = states.get(symbol)
    found = open_stats(state.windows, spec, at) if state is not None else None
    if found is not None:
        return found
    return closed[spec.name].relative_to(at)[symbol].value()
