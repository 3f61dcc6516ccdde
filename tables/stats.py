"""Rolling price statistics: a small immutable value with ``+ tick``.

``RollingStats`` is what every windowed table holds per symbol. Adding a tick
returns a new value (Welford's method for mean and variance: one pass, no list
of prices, numerically stable for large magnitudes), so ``table[symbol] += tick``
updates each overlapping window on its own; adding another ``RollingStats`` merges
the two exactly, so a batch of ticks costs one table write. Pure: no broker, no clock.

Each value also says which ticks it holds: ``counted`` maps every source partition
(``btc/2``: where the tick was read from its symbol topic) to the highest offset
counted into this window. A tick is known by that position (``Sighting``), the same
each time it is read again or forwarded again, so ``uncounted`` picks the ticks a window
has not counted, exactly, in memory bounded by the number of source partitions. The
marks live in the window's own value, so they and the statistics they describe are
one changelog record: after any stop or crash a recovered window holds both or neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from cryptoflow.records import PriceTick, Record, format_ts


class RollingStats(Record, serializer="json", include_metadata=False, isodates=True):
    """count, min, max, mean, M2 (variance * count), open/close and their times, and
    the highest offset counted per source partition (never changed in place)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    open: float = 0.0
    close: float = 0.0
    open_ts: datetime | None = None
    close_ts: datetime | None = None
    counted: dict[str, int] = {}  # noqa: RUF012 (a faust field; every change makes a new dict)

    @classmethod
    def of(cls, ticks: Iterable[PriceTick]) -> RollingStats:
        """The statistics of ``ticks``."""
        stats = cls()
        for tick in ticks:
            stats += tick
        return stats

    def __add__(self, other: PriceTick | RollingStats) -> RollingStats:
        """With one more tick, or merged with the statistics of other ticks of the window
        (what a batch adds: one table write instead of one per tick)."""
        if isinstance(other, RollingStats):
            return self._merge(other)
        price, ts = other.price, other.ts
        count = self.count + 1
        mean, m2 = welford(self.count, self.mean, self.m2, price)
        first = self.open_ts is None or ts < self.open_ts
        last = self.close_ts is None or ts >= self.close_ts
        return RollingStats(
            count=count,
            mean=mean,
            m2=m2,
            low=min(self.low, price),
            high=max(self.high, price),
            open=price if first else self.open,
            close=price if last else self.close,
            open_ts=ts if first else self.open_ts,
            close_ts=ts if last else self.close_ts,
            counted=self.counted,
        )

    def _merge(self, other: RollingStats) -> RollingStats:
        """Chan et al.'s parallel combination: exact mean and M2, no list of prices."""
        if not other.count:
            return self
        if not self.count:
            return other
        counted = dict(self.counted)
        for source, offset in other.counted.items():
            counted[source] = max(offset, counted.get(source, -1))
        count = self.count + other.count
        mean, m2 = chan(self.count, self.mean, self.m2, other.count, other.mean, other.m2)
        first = _before(other.open_ts, self.open_ts)
        last = not _before(other.close_ts, self.close_ts)
        return RollingStats(
            count=count,
            mean=mean,
            m2=m2,
            low=min(self.low, other.low),
            high=max(self.high, other.high),
            open=other.open if first else self.open,
            close=other.close if last else self.close,
            open_ts=other.open_ts if first else self.open_ts,
            close_ts=other.close_ts if last else self.close_ts,
            counted=counted,
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


def welford(count: int, mean: float, m2: float, value: float) -> tuple[float, float]:
    """Welford's step: the mean and M2 (sum of squared deviations from the mean) of
    ``count`` values with those, and ``value`` one more."""
    delta = value - mean
    mean += delta / (count + 1)
    return mean, m2 + delta * (value - mean)


def chan(
    count: int, mean: float, m2: float, other_count: int, other_mean: float, other_m2: float,
) -> tuple[float, float]:
    """Chan et al.'s parallel combination: the mean and M2 of two disjoint sets of values
    (at least one of them not empty) from each one's count, mean and M2."""
    total = count + other_count
    delta = other_mean - mean
    return (mean + delta * other_count / total,
            m2 + other_m2 + delta * delta * count * other_count / total)


def _before(ts: datetime | None, other: datetime | None) -> bool:
    return ts is not None and other is not None and ts < other


class Sighting(NamedTuple):
    """A stored tick as the statistics read it, with where it was read from in its
    symbol topic: ``source`` is ``topic/partition``, ``offset`` its offset there."""

    tick: PriceTick
    source: str
    offset: int

    @property
    def ts(self) -> datetime:
        return self.tick.ts


def uncounted(window: RollingStats, sightings: Iterable[Sighting]) -> RollingStats:
    """The statistics of those ``sightings`` (in the order they were read) that
    ``window`` has not counted, with their marks: merged into ``window`` they count
    each tick once.

    A source partition's ticks are stored and forwarded in offset order; after a stop,
    a crash or a rebalance they are read again from the last committed offset, in the
    same order. So a tick whose offset is at or below the window's mark for its
    partition was counted, and one above it was not, whatever MongoDB held already."""
    marks: dict[str, int] = {}
    fresh = RollingStats()
    for sighting in sightings:
        if sighting.offset <= marks.get(sighting.source, window.counted.get(sighting.source, -1)):
            continue
        fresh += sighting.tick
        marks[sighting.source] = sighting.offset
    return fresh.derive(counted=marks) if marks else fresh
