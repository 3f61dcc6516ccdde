"""Recorded candles and trades read back by range, a page at a time, for the history
API and the export command. Every database read of both goes through ``candle_page``
or ``trade_page``.

Trades page by id: a page holds the stored trades of [start, end) from an id on, in id
order, and the id after its last trade when the page was full (the cursor). The first
id of a range is the first trade of the first trade candle from the range's minute on,
so no secondary index is needed.

A page holds the candles of ``interval`` starting in [start, end), oldest first, and
the start of the next candle not in it (the cursor), so following the cursors yields
every candle of a range once. Closed candles come from the jobs' collections
(``candles_1m``, ``candles_1h``). What the jobs have not built yet (the open minute
always, the last closed minutes until the next run) is built from the stored ticks with
the jobs' own functions; 5-minute candles are rolled up from 1-minute ones. Each read is
bounded: at most ``limit`` + 1 stored candles (5-minute pages: 5 minutes each), at most
``TAIL_TICKS`` ticks, and never further back than the jobs build.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptoflow.exceptions import HistoryTooDense
from cryptoflow.records import trade_key
from cryptoflow.settings import topic_name
from cryptoflow.sinks.mongo import TRADES, TickStore
from cryptoflow.tables.series import (
    MINUTE,
    ONE_MINUTE,
    Interval,
    before,
    ceil_to,
    floor_to,
    minute_candles,
    rolled_up,
)

TAIL_TICKS = 20_000  # the most ticks read to build candles the job has not built yet

Series = tuple[list[dict[str, Any]], datetime | None]  # candles, and where a cut read resumes


@dataclass(frozen=True)
class Page:
    """Candle documents oldest first, and the start of the next one (None: no more)."""

    candles: list[dict[str, Any]]
    next: datetime | None


async def candle_page(
    store: TickStore, symbol: str, interval: Interval, start: datetime, end: datetime,
    limit: int, now: datetime,
) -> Page:
    """At most ``limit`` candles of ``symbol`` starting in [start, end)."""
    start, end = ceil_to(start, interval.size), ceil_to(end, interval.size)
    if start >= end:
        return Page([], None)
    candles, resume = await _series(store, symbol, interval, start, end, limit + 1, now)
    if len(candles) > limit:
        return Page(candles[:limit], candles[limit]["start"])
    if resume is not None and resume <= start:
        raise HistoryTooDense(
            f"more than {TAIL_TICKS} ticks in one {interval.name} candle of {symbol} "
            f"from {start.isoformat()}: too many to build it when asked")
    return Page(candles, resume)


async def candle_pages(
    store: TickStore, symbol: str, interval: Interval, start: datetime, end: datetime,
    limit: int, clock: Callable[[], datetime],
) -> AsyncIterator[tuple[Page, datetime]]:
    """Every page of [start, end), each with the ``clock()`` time it was read at (which
    decides whether its newest candle is closed)."""
    cursor: datetime | None = start
    while cursor is not None:
        now = clock()
        page = await candle_page(store, symbol, interval, cursor, end, limit, now)
        yield page, now
        cursor = page.next


async def _series(
    store: TickStore, symbol: str, interval: Interval, start: datetime, end: datetime,
    want: int, now: datetime,
) -> Series:
    """``want`` candles from ``start`` (``end`` and ``start`` on the interval's slots),
    or all there are before ``end``; more when the unbuilt tail adds some."""
    if interval.collection is None:
        return await _rolled(store, symbol, interval, start, end, want * interval.minutes, now)
    stored = await store.candles_between(interval.collection, symbol, start, end, want)
    if len(stored) == want:
        return stored, stored[-1]["start"] + interval.size
    newest = await store.latest_start(interval.collection, symbol)
    tail_start = max(start, floor_to(now, interval.size) - interval.built_within)
    if newest is not None:
        tail_start = max(tail_start, newest + interval.size)
    if tail_start >= end:
        return stored, None
    if interval is ONE_MINUTE:
        tail, resume = await _from_ticks(store, symbol, tail_start, min(end, floor_to(
            now, MINUTE) + MINUTE))
    else:
        tail, resume = await _rolled(store, symbol, interval, tail_start, end,
                                     (want - len(stored)) * interval.minutes, now)
    return stored + tail, resume


async def _rolled(
    store: TickStore, symbol: str, interval: Interval, start: datetime, end: datetime,
    minutes: int, now: datetime,
) -> Series:
    parts, resume = await _series(store, symbol, ONE_MINUTE, start, end, minutes, now)
    candles = rolled_up(symbol, parts, interval.size)
    if resume is None:
        return candles, None
    cut = floor_to(resume, interval.size)  # the candle holding ``resume`` may lack minutes
    return before(candles, cut), cut


async def _from_ticks(store: TickStore, symbol: str, start: datetime, end: datetime) -> Series:
    ticks = await store.ticks_between(topic_name(symbol), start, end, TAIL_TICKS)
    candles = minute_candles(symbol, ticks)
    if len(ticks) < TAIL_TICKS:
        return candles, None
    cut = candles[-1]["start"]  # the read stopped inside this minute
    return before(candles, cut), cut


async def first_trade_id(
    store: TickStore, symbol: str, start: datetime, end: datetime,
) -> int | None:
    """The id of the first stored trade of ``symbol`` at or after ``start``'s minute."""
    minute = start.replace(second=0, microsecond=0)
    candles = await store.candles_between(ONE_MINUTE.collection, symbol, minute, end,
                                          limit=1, source="trades")
    return int(candles[0]["first_trade_id"]) if candles else None


async def trade_page(
    store: TickStore, symbol: str, start: datetime, end: datetime, from_id: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """At most ``limit`` trades of [start, end) from ``from_id`` on (None: from the range's
    first), and the id the next page starts from (None: no more)."""
    first = from_id if from_id is not None else await first_trade_id(store, symbol, start, end)
    if first is None:
        return [], None
    documents = await store.trades_from(TRADES, symbol, trade_key(symbol, first), end, limit)
    following = documents[-1]["trade_id"] + 1 if len(documents) >= limit else None
    return [doc for doc in documents if doc["ts"] >= start], following


async def trade_pages(
    store: TickStore, symbol: str, start: datetime, end: datetime, limit: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page of the trades of [start, end)."""
    cursor: int | None = None
    while True:
        trades, cursor = await trade_page(store, symbol, start, end, cursor, limit)
        yield trades
        if cursor is None:
            return
