"""Recorded candles and trades read back by range, a page at a time, for the history
API and the export command. Every database read of both goes through ``candle_page``
or ``trade_page``.

Trades page by id, and each page reads its trades by key: the stored trades of [start,
end) among ids ``from_id`` .. ``from_id + limit - 1`` (a symbol's aggregate trade ids are
consecutive, and trade time does not decrease with the id), never a range of keys, which
the local database answers by scanning the whole collection. The next page starts after
that window, unless a trade at or after ``end`` was in it (the last page). When the
window was not full (a gap of ids, or the newest trades), where stored trades resume is
found in the 1-minute trade candles, which carry their first and last trade ids, at
most ``RESUME_SPAN`` of them a read; the first page starts where the range's first
trade candle does. A page may so hold fewer than ``limit`` trades, or none, and still
have a next one; following the cursors yields every stored trade of the range once.

A page holds the candles of ``interval`` starting in [start, end), oldest first, and
the start of the next candle not in it (the cursor), so following the cursors yields
every candle of a range once. Closed candles come from the jobs' collections
(``candles_1m``, ``candles_1h``). What the jobs have not built yet (the open minute
always, the last closed minutes until the next run) is built from the stored ticks with
the jobs' own functions; 5-minute candles are rolled up from 1-minute ones. Each read is
bounded by its range, not only by a limit (the local database examines every document
of a range, whatever the limit): a page reads the stored candles of at most ``limit`` + 1
slots from its start (5-minute pages: the minutes of those slots), so a range with
missing candles has pages of fewer than ``limit`` candles, still with a ``next``; the
newest stored candle is looked for only where the jobs still build; and at most
``TAIL_TICKS`` ticks are read, never further back than the jobs build.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptoflow.exceptions import HistoryTooDense
from cryptoflow.records import trade_key
from cryptoflow.settings import topic_name
from cryptoflow.sinks.mongo import TRADES, TickStore
from cryptoflow.tables.series import (
    CANDLES_1M,
    MINUTE,
    ONE_MINUTE,
    Interval,
    before,
    ceil_to,
    floor_to,
    minute_candles,
    rolled_up,
)
from cryptoflow.tables.trade_candles import SOURCE as TRADE_SOURCE

TAIL_TICKS = 20_000  # the most ticks read to build candles the job has not built yet
NEWEST_AHEAD = 200  # trades a symbol may make in the second its forming candle lags
RESUME_SPAN = timedelta(days=1)  # the 1-minute candles one read looks through for trades
LAST_TIME = datetime.max.replace(tzinfo=UTC)  # the end of a read without one

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
    """The candles of the ``want`` slots from ``start`` before ``end`` (both on the
    interval's slots), and where the next read starts (None: at ``end``): after the
    slots read, or inside the unbuilt tail where its read was cut."""
    if interval.collection is None:
        return await _rolled(store, symbol, interval, start, end, want * interval.minutes, now)
    stop = min(end, start + want * interval.size)
    following = stop if stop < end else None
    stored = await store.candles_between(interval.collection, symbol, start, stop)
    if len(stored) == want:
        return stored, following
    built = floor_to(now, interval.size) - interval.built_within  # what the job reaches
    tail_start = max(start, built)
    newest = await _newest_start(store, interval.collection, symbol, built - interval.size)
    if newest is not None:
        tail_start = max(tail_start, newest + interval.size)
    if tail_start >= stop:
        return stored, following
    if interval is ONE_MINUTE:
        tail, resume = await _from_ticks(store, symbol, tail_start, min(stop, floor_to(
            now, MINUTE) + MINUTE))
    else:
        tail, resume = await _rolled(store, symbol, interval, tail_start, stop,
                                     (stop - tail_start) // MINUTE, now)
    return stored + tail, following if resume is None else resume


async def _newest_start(
    store: TickStore, collection: str, symbol: str, since: datetime,
) -> datetime | None:
    """The start of the newest candle of ``symbol`` in ``collection`` from ``since`` on
    (None: none), reading only those: ``TickStore.latest_start`` examines every candle
    of the symbol on the local database."""
    candles = await store.candles_between(collection, symbol, since, LAST_TIME)
    return candles[-1]["start"] if candles else None


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


@dataclass(frozen=True)
class TradeCursor:
    """Where a page of trades starts: the trade id (None: the first stored one from
    ``start`` on), and ``start``, a time no stored trade from that id on is before (the
    range's start, or later: where the reads of the next page begin)."""

    from_id: int | None
    start: datetime


@dataclass(frozen=True)
class TradePage:
    """Trade documents in id order, and where the next page starts (None: no more)."""

    trades: list[dict[str, Any]]
    next: TradeCursor | None


async def trade_page(
    store: TickStore, symbol: str, start: datetime, end: datetime, from_id: int | None,
    limit: int,
) -> TradePage:
    """The stored trades of [start, end) among ids ``from_id`` .. ``from_id + limit - 1``
    (``from_id`` None: from where the range's trades begin), read by their keys."""
    if from_id is None:
        found = await _resume(store, symbol, 0, start, end)
        if found is None or found.from_id is None:
            return TradePage([], found)
        from_id = found.from_id
    following = from_id + limit
    window = await store.by_ids(
        TRADES, [trade_key(symbol, trade_id) for trade_id in range(from_id, following)])
    trades = [doc for doc in window if start <= doc["ts"] < end]
    if window and window[-1]["ts"] >= end:
        return TradePage(trades, None)
    since = max(start, window[-1]["ts"]) if window else start
    if len(window) == limit and window[-1]["ts"] >= start:
        return TradePage(trades, TradeCursor(following, since))
    found = await _resume(store, symbol, following, since, end)
    if found is not None and found.from_id is None:
        found = TradeCursor(following, found.start)
    return TradePage(trades, found)


async def newest_trades(
    store: TickStore, symbol: str, limit: int, now: datetime,
) -> list[dict[str, Any]]:
    """The newest ``limit`` stored trades of ``symbol``, oldest first, as Binance's
    ``aggTrades`` answers without a range: found from the newest 1-minute trade candle of
    the last ``RESUME_SPAN`` (its last trade id; the forming one is written a second late,
    so ``NEWEST_AHEAD`` ids past it, or ``limit`` if more, are read too), then read by
    their keys."""
    candles = await store.candles_between(
        CANDLES_1M, symbol, floor_to(now, MINUTE) - RESUME_SPAN, LAST_TIME)
    last = next((c["last_trade_id"] for c in reversed(candles)
                 if c.get("source") == TRADE_SOURCE), None)
    if last is None:
        return []
    window = await store.by_ids(TRADES, [trade_key(symbol, trade_id) for trade_id in range(
        max(0, last - limit + 1), last + max(limit, NEWEST_AHEAD) + 1)])
    return window[-limit:]


async def _resume(
    store: TickStore, symbol: str, from_id: int, since: datetime, end: datetime,
) -> TradeCursor | None:
    """Where stored trades of [since, end) resume at or after id ``from_id``, found in
    the 1-minute trade candles (their first and last trade ids) of at most
    ``RESUME_SPAN`` from ``since``'s minute on: None when there is none before ``end``,
    a cursor without an id when there is none within the span (look again from its
    ``start``)."""
    minute = floor_to(since, MINUTE)
    until = min(end, minute + RESUME_SPAN)
    for candle in await store.candles_between(CANDLES_1M, symbol, minute, until):
        if candle.get("source") == TRADE_SOURCE and candle["last_trade_id"] >= from_id:
            return TradeCursor(max(from_id, candle["first_trade_id"]),
                               max(since, candle["start"]))
    return None if until == end else TradeCursor(None, until)


async def trade_pages(
    store: TickStore, symbol: str, start: datetime, end: datetime, limit: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page of the trades of [start, end) that holds some."""
    cursor: TradeCursor | None = TradeCursor(None, start)
    while cursor is not None:
        page = await trade_page(store, symbol, cursor.start, end, cursor.from_id, limit)
        if page.trades:
            yield page.trades
        cursor = page.next
