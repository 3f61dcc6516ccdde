"""The tables kept from the streams: trade state, trade and spread windows, the book.

Keyed by symbol (JSON keys), partitioned like the ``trades`` and ``book`` topics, so
the worker that reads a symbol's trades holds its tables (and streams the symbol,
cryptoflow/sources/market.py). Every value carries the highest trade id (or book
update id) it counted: a redelivered record is recognised and counted nowhere twice.
Windows are tumbling and placed by the record's own time (``relative_to(ts)``).
"""

from __future__ import annotations

from datetime import datetime

from cryptoflow.app import app
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

# The latest top of book of each symbol: the fields of bookTicker and when it came.
latest_books = app.Table("latest-books", key_type=str, partitions=_partitions)

# The trade windows once closed (the open ones are in trade_states).
trade_windows = {
    spec.name: app.Table(
        f"trade-stats-{spec.name}", default=TradeStats, key_type=str, value_type=TradeStats,
        partitions=_partitions,
    ).tumbling(spec.size, expires=spec.expires).relative_to_now()
    for spec in WINDOWS.values()
}

spread_windows = {
    spec.name: app.Table(
        f"spread-stats-{spec.name}", default=SpreadStats, key_type=str,
        value_type=SpreadStats, partitions=_partitions,
    ).tumbling(spec.size, expires=spec.expires).relative_to_now()
    for spec in WINDOWS.values()
}


def trade_window(spec: WindowSpec, symbol: str, at: datetime) -> TradeStats:
    """The trade statistics of ``symbol``'s window of ``spec`` holding ``at``: the open
    one from its state, a closed one from its windowed table (empty if it had none)."""
    state = trade_states.get(symbol)
    found = state.window(spec, at) if state is not None else None
    if found is not None:
        return found
    return trade_windows[spec.name].relative_to(at)[symbol].value()  # type: ignore[no-any-return]
