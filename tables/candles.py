"""OHLC candles: from the ticks of one closed minute, and hours from minutes. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
    stats = RollingStats.of(ticks)
    return {
        "_id": f"{symbol}/{start.isoformat()}",
        "symbol": symbol, "start": start, "end": end,
        "open": stats.open, "high": stats.high, "low": stats.low, "close": stats.close,
        "count": stats.count, "mean": stats.mean, "stddev": stats.stddev,
    }


def roll_up(
    symbol: str, start: datetime, end: datetime, minutes: Sequence[Mapping[str, Any]],
) -> dict[str, Any] | None:
    """One candle of [start, end) from the smaller candles inside it, oldest first.
    Mean and stddev combine exactly (Chan et al.'s parallel variance), not averaged;
    a part without them (a backfilled kline) leaves the whole without them."""
    if not minutes:
        return None
    count, m2 = 0, 0.0
    mean: float | None = 0.0
    for part in minutes:
        n = part["count"]
        if part["mean"] is not None and mean is not None:
            part_m2 = part["stddev"] ** 2 * n
            delta = part["mean"] - mean
            mean += delta * n / (count + n)
            m2 += part_m2 + delta * delta * count * n / (count + n)
        else:
            mean = None
        count += n
    return {
        "_id": f"{symbol}/{start.isoformat()}",
        "symbol": symbol, "start": start, "end": end,
        "open": minutes[0]["open"], "high": max(m["high"] for m in minutes),
        "low": min(m["low"] for m in minutes), "close": minutes[-1]["close"],
        "count": count, "mean": mean,
        "stddev": None if mean is None else math.sqrt(max(0.0, m2 / count)),
    }

