"""The rolling windows cryptoflow keeps, and how a request picks one. Pure.

Tumbling windows aligned to the epoch: the 1-minute window holding 12:00:42 is
[12:00:00, 12:01:00). One changelog write per window kind per batch of a symbol's
ticks keeps the cost low; hopping windows would write size/step times as often.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar


class HasTs(Protocol):
    """A tick, or anything that knows its tick's event time."""

    @property
    def ts(self) -> datetime: ...


Timed = TypeVar("Timed", bound=HasTs)


@dataclass(frozen=True)
class WindowSpec:
    """One kind of window: its name in the API, its size, and how long it is kept."""

    name: str
    size: timedelta
    expires: timedelta

    def bounds(self, at: datetime) -> tuple[datetime, datetime]:
        """[start, end) of the window that contains ``at``."""
        size = self.size.total_seconds()
        start = int(at.timestamp() // size * size)
        begin = datetime.fromtimestamp(start, tz=UTC)
        return begin, begin + self.size

    def split(self, records: Iterable[Timed]) -> dict[datetime, list[Timed]]:
        """``records`` (ticks, trades, book tickers) grouped by the start of the window
        holding each, order kept."""
        groups: dict[datetime, list[Timed]] = defaultdict(list)
        for record in records:
            groups[self.bounds(record.ts)[0]].append(record)
        return dict(groups)

    def retains(self, at: datetime, latest: datetime) -> bool:
        """Whether the window holding ``at`` is still kept, given the newest event time."""
        return self.bounds(at)[1] > latest - self.expires


WINDOWS: dict[str, WindowSpec] = {
    spec.name: spec
    for spec in (
        WindowSpec("1m", timedelta(minutes=1), expires=timedelta(hours=1)),
        WindowSpec("5m", timedelta(minutes=5), expires=timedelta(hours=6)),
        WindowSpec("1h", timedelta(hours=1), expires=timedelta(days=2)),
    )
}
DEFAULT_WINDOW = "1m"
