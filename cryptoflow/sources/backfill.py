"""Backfill 1-minute candles from Binance's klines into ``candles_1m``.

Every minute of the range that has no candle yet is filled, wherever it is: the
range is read page by page (1,000 minutes), the minutes of a page without a candle
are grouped into spans, and klines are asked for those spans only, each upserted
(``_id`` = symbol + start) before the next is asked for. Candles already there,
the live job's or an earlier run's, are never fetched or overwritten; an
interrupted run loses nothing, and running it again fills what is still missing.
What it says at the end is counted in the database: the minutes of the range that
have a candle, and the minutes Binance had no kline for (a halt, before a listing).

A command gives up quickly: a failed request is tried ``ATTEMPTS`` times within a
few seconds (a 429/418 after waiting out its Retry-After), then its ``BinanceError``
ends the run and the command prints one line naming the kind of failure. ``retried``
is that policy for any request a command sends (the trades backfill's too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cryptoflow.backoff import Backoff
from cryptoflow.exceptions import BinanceError, BinanceRateLimited
from cryptoflow.sinks.mongo import TickStore
from cryptoflow.sources.binance import KLINES_MAX, BinanceClient, Kline

log = logging.getLogger(__name__)

CANDLES = "candles_1m"
MINUTE = timedelta(minutes=1)
# A command gives up quickly (a few seconds), where the worker keeps polling for good.
ATTEMPTS = 3
RETRY = Backoff(base=0.5, cap=2.0)

Span = tuple[datetime, datetime]  # [start, end) in whole minutes
T = TypeVar("T")


@dataclass
class Coverage:
    """What a run did to a range: minutes written, minutes of the range that now have
    a candle (of ``minutes``), and the spans Binance had no kline for."""

    minutes: int
    written: int = 0
    covered: int = 0
    unavailable: list[Span] = field(default_factory=list)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def kline_candle(symbol: str, kline: Kline) -> dict[str, Any]:
    """A candle from Binance's own kline, with what the kline carries besides its times:
    the volumes, the taker buy volumes and ``trades``, the raw trade count, which is
    also its ``count`` (what an hour of such candles adds up, tables/candles.py). It has
    no ticks, so no mean or stddev."""
    start = datetime.fromtimestamp(kline.open_time / 1000, tz=UTC)
    return {
        "_id": f"{symbol}/{start.isoformat()}",
        "symbol": symbol, "start": start, "end": start + MINUTE,
        "open": kline.open, "high": kline.high, "low": kline.low, "close": kline.close,
        "volume": kline.volume, "quote_volume": kline.quote_volume, "trades": kline.trades,
        "taker_buy_volume": kline.taker_buy_volume,
        "taker_buy_quote_volume": kline.taker_buy_quote_volume,
        "count": kline.trades, "mean": None, "stddev": None, "source": "binance-klines",
    }


def missing_spans(present: Iterable[datetime], start: datetime, end: datetime) -> list[Span]:
    """The spans of whole minutes in [start, end) that are not in ``present`` (minute
    starts, in any order; those outside the range are ignored)."""
    spans: list[Span] = []
    cursor = start
    for minute in sorted({m for m in present if start <= m < end}):
        if minute > cursor:
            spans.append((cursor, minute))
        cursor = minute + MINUTE
    if cursor < end:
        spans.append((cursor, end))
    return spans


def minutes(span: Span) -> int:
    return int((span[1] - span[0]) / MINUTE)


async def backfill(
    client: BinanceClient, store: TickStore, symbol: str, since: datetime, until: datetime,
    progress: Callable[[int], None], page: int = KLINES_MAX,
) -> Coverage:
    """Fill every minute of [since, until) that has no candle; returns what the range
    holds afterwards."""
    coverage = Coverage(minutes((since, until)))
    start = since
    while start < until:
        end = min(start + page * MINUTE, until)
        stored = await store.candle_starts(CANDLES, symbol, start, end)
        holes = missing_spans(stored, start, end)
        progress(minutes((start, end)) - sum(map(minutes, holes)))
        for hole in holes:
            await _fill(client, store, symbol, hole, coverage)
            progress(minutes(hole))
        start = end
    coverage.covered = await store.count_candles(CANDLES, symbol, since, until)
    return coverage


async def _fill(
    client: BinanceClient, store: TickStore, symbol: str, hole: Span, coverage: Coverage,
) -> None:
    """One request for one span of at most a page; writes the klines that open in it."""
    klines = await _klines(client, symbol, hole)
    docs = [doc for doc in (kline_candle(symbol, kline) for kline in klines)
            if hole[0] <= doc["start"] < hole[1]]
    await store.replace(CANDLES, docs)
    coverage.written += len(docs)
    for span in missing_spans((doc["start"] for doc in docs), *hole):
        if coverage.unavailable and coverage.unavailable[-1][1] == span[0]:
            coverage.unavailable[-1] = (coverage.unavailable[-1][0], span[1])  # across pages
        else:
            coverage.unavailable.append(span)


async def _klines(client: BinanceClient, symbol: str, span: Span) -> list[Kline]:
    return await retried(lambda: client.fetch_klines(
        symbol, to_ms(span[0]), to_ms(span[1]) - 1, limit=minutes(span)), "backfill")


async def retried(call: Callable[[], Awaitable[T]], what: str) -> T:
    """``call()``, tried ``ATTEMPTS`` times (a 429/418 after waiting out its Retry-After,
    another failure after ``RETRY``'s short delay): the policy of every command that asks
    Binance (``what`` names the command in the log), which then prints the last
    ``BinanceError`` once."""
    delays = RETRY.delays()
    attempt = 1
    while True:
        try:
            return await call()
        except BinanceError as err:
            if attempt == ATTEMPTS:
                raise
            delay = err.retry_after if isinstance(err, BinanceRateLimited) else next(delays)
            # A wait the user should see; a quick retry only for the log (the command
            # prints the failure once, when it gives up).
            log.log(logging.WARNING if isinstance(err, BinanceRateLimited) else logging.INFO,
                    "%s: Binance: %s: %s (try %d of %d); again in %.1fs",
                    what, err.kind, err, attempt, ATTEMPTS, delay)
            await asyncio.sleep(delay)
            attempt += 1
