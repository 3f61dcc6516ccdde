"""Rolling price statistics: a small immutable value with ``+ tick``.

``RollingStats`` is what every windowed table holds per symbol. Adding a tick
returns a new value (Welford's method for mean and variance: one pass, no list
of prices, numerically stable for large magnitudes), so ``table[symbol] += tick``
updates each overlapping window on its own. Pure: no broker, no clock.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import faust

from cryptoflow.records import PriceTick, format_ts


class RollingStats(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """count, min, max, mean, M2 (variance * count), open/close and their times."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    open: float = 0.0
    close: float = 0.0
    open_ts: datetime | None = None
    close_ts: datetime | None = None

    def __add__(self, tick: PriceTick) -> RollingStats:  # type: ignore[override]
        price, ts = tick.price, tick.ts
        count = self.count + 1
        delta = price - self.mean
        mean = self.mean + delta / count
        first = self.open_ts is None or ts < self.open_ts
        last = self.close_ts is None or ts >= self.close_ts
        return RollingStats(
            count=count,
            mean=mean,
            m2=self.m2 + delta * (price - mean),
            low=min(self.low, price),
            high=max(self.high, price),
            open=price if first else self.open,
            close=price if last else self.close,
            open_ts=ts if first else self.open_ts,
            close_ts=ts if last else self.close_ts,
        )

    @property
    def variance(self) -> float:
        """Population variance of the prices in the window."""
        return max(0.0, self.m2 / self.count) if self.count else math.nan

    @property
    def stddev(self) -> float:
        return math.sqrt(self.variance) if self.count else math.nan

    @property
    def change_pct(self) -> float:
        return (self.close - self.open) / self.open * 100 if self.count else math.nan

    def summary(self) -> dict[str, Any]:
        """The JSON the web views serve (``None`` where an empty window has no value)."""
        if not self.count:
            return {"count": 0, "min": None, "max": None, "mean": None, "stddev": None,
                    "open": None, "close": None, "change_pct": None,
                    "first_ts": None, "last_ts": None}
        return {
            "count": self.count,
            "min": self.low,
            "max": self.high,
            "mean": self.mean,
            "stddev": self.stddev,
            "open": self.open,
            "close": self.close,
            "change_pct": self.change_pct,
            "first_ts": format_ts(self.open_ts) if self.open_ts else None,
            "last_ts": format_ts(self.close_ts) if self.close_ts else None,
        }
