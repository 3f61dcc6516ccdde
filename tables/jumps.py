"""The price-jump rule, pure: compare a tick with the previous one of its symbol."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptoflow.records import PriceTick, Record, format_ts


class Alert(Record, serializer="json", include_metadata=False, isodates=True):
    """A move between two consecutive ticks larger than the threshold."""

    symbol: str
    from_price: float
    to_price: float
    change_pct: float
    from_ts: datetime
    ts: datetime

    def to_document(self) -> dict[str, object]:
        """One document per (symbol, ts): a redelivered tick finds its alert already there."""
        return {"_id": f"{self.symbol}/{format_ts(self.ts)}", "symbol": self.symbol,
                "from_price": self.from_price, "to_price": self.to_price,
                "change_pct": self.change_pct, "from_ts": self.from_ts, "ts": self.ts}


def price_jump(previous: PriceTick | None, tick: PriceTick, threshold: float) -> Alert | None:
    """An Alert when |to - from| / from exceeds ``threshold`` (0.02 = 2 %); ticks that
    are not newer than the previous one (redelivered, out of order) never alert."""
    if previous is None or tick.ts <= previous.ts:
        return None
    change = (tick.price - previous.price) / previous.price
    if abs(change) <= threshold:
        return None
    return Alert(symbol=tick.symbol, from_price=previous.price, to_price=tick.price,
                 change_pct=change * 100, from_ts=previous.ts, ts=tick.ts)


def jumps_in(
    previous: PriceTick | None, ticks: Sequence[PriceTick], threshold: float,
) -> tuple[list[Alert], PriceTick | None]:
    """The alerts of ``ticks`` (in stream order), each against the newest tick before it,
    and the newest tick afterwards (``previous`` itself when none is newer)."""
    alerts: list[Alert] = []
    for tick in ticks:
        alert = price_jump(previous, tick, threshold)
        if alert is not None:
            alerts.append(alert)
        if previous is None or tick.ts > previous.ts:
            previous = tick
    return alerts, previous
