"""OHLC candles from the ticks of one closed interval. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptoflow.records import PriceTick
from cryptoflow.tables.stats import RollingStats


def candle(
    symbol: str, start: datetime, end: datetime, ticks: Sequence[PriceTick],
) -> dict[str, Any] | None:
    """The candle document of ``ticks`` (all within [start, end)); None without ticks.
    Its ``_id`` is symbol + start, so writing it again replaces it, never duplicates."""
    if not ticks:
        return None
    stats = RollingStats()
    for tick in ticks:
        stats += tick
    return {
        "_id": f"{symbol}/{start.isoformat()}",
        "symbol": symbol, "start": start, "end": end,
        "open": stats.open, "high": stats.high, "low": stats.low, "close": stats.close,
        "count": stats.count, "mean": stats.mean, "stddev": stats.stddev,
    }
