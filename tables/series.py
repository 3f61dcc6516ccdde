"""Candle series: the intervals served, ticks grouped into minutes, minutes into larger
candles, and the public shape of a candle. Pure: the jobs that store candles and the
history API that reads them both call these, so a candle is built one way only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptoflow.records import PriceTick, format_ts
from cryptoflow.tables.candles import TICKS, candle, roll_up

MINUTE = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Interval:
    """A candle size. ``collection`` is where a job stores its candles (None: rolled up
    from 1-minute candles when asked for); ``built_within`` is how far back that job
    builds them, so a missing candle older than that is never built."""

    name: str
    size: timedelta
    collection: str | None
    built_within: timedelta

    @property
    def minutes(self) -> int:
        return self.size // MINUTE


CANDLES_1M = "candles_1m"  # 1-minute candles: trade candles, tick candles, klines
ONE_MINUTE = Interval("1m", MINUTE, CANDLES_1M, timedelta(hours=1))
INTERVALS = {
    "1m": ONE_MINUTE,
    "5m": Interval("5m", 5 * MINUTE, None, timedelta(0)),
    "1h": Interval("1h", timedelta(hours=1), "candles_1h", timedelta(hours=48)),
}

# Public fields of a candle besides start and OHLC, each present where it is known:
# volumes, taker buy volumes and trades come with trade candles and klines (taker buy
# volumes not with a trade candle whose state predates them, nor with candles rolled up
# from minutes, which do not add them up), count with tick candles (ticks) and
# backfilled klines (trades), source with backfilled klines.
OPTIONAL_FIELDS = ("volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume",
                   "trades", "count", "source")
CANDLE_COLUMNS = ("start", "open", "high", "low", "close", *OPTIONAL_FIELDS, "closed")


def floor_to(moment: datetime, size: timedelta) -> datetime:
    """The start of the ``size`` slot holding ``moment`` (slots counted from the epoch, UTC)."""
    return moment - (moment - EPOCH) % size


def ceil_to(moment: datetime, size: timedelta) -> datetime:
    """The first slot start at or after ``moment``."""
    floor = floor_to(moment, size)
    return floor if floor == moment else floor + size


def minute_candles(symbol: str, ticks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One candle per minute that has ticks (``{price, ts}`` documents), oldest first."""
    by_minute: dict[datetime, list[PriceTick]] = defaultdict(list)
    for doc in ticks:
        by_minute[floor_to(doc["ts"], MINUTE)].append(
            PriceTick(symbol=symbol, price=doc["price"], ts=doc["ts"]))
    return [made for minute, group in sorted(by_minute.items())
            if (made := candle(symbol, minute, minute + MINUTE, group)) is not None]


def tick_candles_start(stored: Iterable[Mapping[str, Any]], earliest: datetime) -> datetime:
    """The first minute the tick candle job builds, given the ``stored`` 1-minute candles of
    a symbol from ``earliest`` on: the newest one's minute if it is a tick candle (ticks
    of that minute may have come since it was built), else the minute after it (a candle
    of another source is better and stays); ``earliest`` when none is stored."""
    newest = max(stored, key=lambda doc: doc["start"], default=None)
    if newest is None:
        return earliest
    start: datetime = newest["start"]
    return start if newest.get("source", TICKS) == TICKS else start + MINUTE


def rolled_up(
    symbol: str, parts: Iterable[Mapping[str, Any]], size: timedelta,
) -> list[dict[str, Any]]:
    """Candles of ``size`` from the smaller ``parts`` (oldest first), one per slot that
    has parts, each by ``roll_up``."""
    by_slot: dict[datetime, list[Mapping[str, Any]]] = defaultdict(list)
    for part in parts:
        by_slot[floor_to(part["start"], size)].append(part)
    return [doc for slot, group in sorted(by_slot.items())
            if (doc := roll_up(symbol, slot, slot + size, group)) is not None]


def before(candles: Sequence[dict[str, Any]], cut: datetime) -> list[dict[str, Any]]:
    """The candles starting before ``cut``: what is left of a series read only up to a
    point, whose candle at that point may be incomplete."""
    return [doc for doc in candles if doc["start"] < cut]


def public_candle(doc: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A stored or built candle as the API and the export show it. ``closed`` is false
    while its span is not over: the candle may still change."""
    row: dict[str, Any] = {"start": format_ts(doc["start"])}
    row.update((name, doc[name]) for name in ("open", "high", "low", "close"))
    row.update((name, doc[name]) for name in OPTIONAL_FIELDS if doc.get(name) is not None)
    row["closed"] = doc["end"] <= now
    return row
