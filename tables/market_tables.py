"""The tables kept from the streams: the forming candle, trade and spread windows, the book.

Keyed by symbol (JSON keys), partitioned like the ``trades`` and ``book`` topics, so
the worker that reads a symbol's trades holds its tables (and streams the symbol,
cryptoflow/sources/market.py). Every value carries the highest trade id (or book
update id) it counted: a redelivered record is recognised and counted nowhere twice.
Windows are tumbling and placed by the record's own time (``relative_to(ts)``).
"""

from __future__ import annotations

from cryptoflow.app import app
from cryptoflow.tables.trade_candles import CandleState
from cryptoflow.tables.trade_stats import SpreadStats, TradeStats
from cryptoflow.tables.windows import WINDOWS

_partitions = app.settings.topic_partitions

# The forming 1-minute candle of each symbol; its last_trade_id is also where a stream
# of that symbol resumes after a restart or a handover.
trade_candles = app.Table(
    "trade-candles", key_type=str, value_type=CandleState, partitions=_partitions,
)

# The latest top of book of each symbol: the fields of bookTicker and when it came.
latest_books = app.Table("latest-books", key_type=str, partitions=_partitions)

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
