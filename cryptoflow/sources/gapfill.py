"""Fill a gap in a symbol's trade stream from REST, by aggregate trade id.

``GapFiller.fill`` asks ``GET /api/v3/aggTrades?fromId=`` page by page (weight 4, within
the client's weight budget and Retry-After) and hands each trade on in id order until
it meets the live stream (the first id the stream holds) or, with no live trade yet,
until the exchange has nothing newer. What the exchange no longer has, or refuses to
serve, or cannot serve for ``timeout`` seconds of failures, is an unfilled ``Gap``:
recorded through ``record_gap`` (which logs, counts and stores it), never skipped in
silence. At most ``concurrency`` fills run at once, so a reconnect of hundreds of
symbols stays within Binance's weight limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from cryptoflow import metrics
from cryptoflow.backoff import Backoff
from cryptoflow.exceptions import (
    BinanceApiError,
    BinanceError,
    BinanceRateLimited,
    InvalidRecord,
)
from cryptoflow.records import Trade, trade_from_fields
from cryptoflow.sources.binance import AGG_TRADES_MAX, BinanceClient
from cryptoflow.sources.gaps import Gap, page_coverage

log = logging.getLogger(__name__)

Emit = Callable[[Trade, dict[str, Any]], Awaitable[None]]
RecordGap = Callable[[Gap, str], Awaitable[None]]


class GapFiller:
    """One per worker: fills gaps of any symbol, a few at a time."""

    def __init__(
        self, client: BinanceClient, record_gap: RecordGap, *, timeout: float,
        backoff: Backoff | None = None, concurrency: int = 4,
    ) -> None:
        self.client = client
        self.record_gap = record_gap
        self.timeout = timeout
        self.backoff = backoff or Backoff(base=0.5, cap=10.0)
        self._slots = asyncio.Semaphore(concurrency)

    async def fill(
        self, symbol: str, from_id: int, live_from: Callable[[], int | None], emit: Emit,
    ) -> int:
        """Hand on trades ``from_id..`` until the live stream (``live_from()``: the first
        id it holds, or None) is met; returns the next id the stream needs."""
        async with self._slots:
            return await self._fill(symbol, from_id, live_from, emit)

    async def _fill(
        self, symbol: str, next_id: int, live_from: Callable[[], int | None], emit: Emit,
    ) -> int:
        started = time.monotonic()
        delays = self.backoff.delays()
        filled = 0
        while (stop := live_from()) is None or next_id < stop:
            try:
                page = await self.client.fetch_agg_trades(symbol, next_id, AGG_TRADES_MAX)
            except BinanceRateLimited as err:
                await asyncio.sleep(max(self.client.retry_in(), min(err.retry_after, 1.0)))
                continue
            except BinanceError as err:
                refused = isinstance(err, BinanceApiError)
                if (refused or time.monotonic() - started > self.timeout) and stop is not None:
                    await self.record_gap(Gap(symbol, next_id, stop - 1), _reason(err, refused))
                    return stop
                await asyncio.sleep(next(delays))  # the end of the gap is not known yet
                continue
            by_id = _by_id(symbol, page)
            coverage = page_coverage(next_id, sorted(by_id), live_from())
            if not coverage.take:
                if stop is None:
                    break  # nothing newer on the exchange: caught up
                await self.record_gap(Gap(symbol, next_id, stop - 1),
                                      "the exchange answered no trades for these ids")
                return stop
            for first, last in coverage.missing:
                await self.record_gap(Gap(symbol, first, last),
                                      "the exchange no longer has these trades")
            for trade_id in coverage.take:
                trade, fields, problem = by_id[trade_id]
                if trade is None:
                    await self.record_gap(Gap(symbol, trade_id, trade_id),
                                          f"the exchange sent an invalid trade: {problem}")
                else:
                    await emit(trade, fields)
                    filled += 1
            next_id = coverage.next_id
            if len(page) < AGG_TRADES_MAX and live_from() is None:
                break  # the last page: caught up with the exchange
        if filled:
            metrics.TRADE_GAPS.labels("filled").inc()
            log.info("Binance stream: %s: %d trade(s) filled from REST up to id %d",
                     symbol, filled, next_id - 1)
        return next_id


def _by_id(
    symbol: str, page: list[dict[str, Any]],
) -> dict[int, tuple[Trade | None, dict[str, Any], str]]:
    """The page's items by aggregate id, each validated (None and why, if invalid). An
    item without a usable id cannot be placed: it is logged, and its id shows as missing."""
    now = datetime.now(UTC)
    items: dict[int, tuple[Trade | None, dict[str, Any], str]] = {}
    for fields in page:
        trade_id = fields.get("a")
        if isinstance(trade_id, bool) or not isinstance(trade_id, int):
            log.warning("Binance aggTrades: %s: an item without an id: %.200r", symbol, fields)
            continue
        try:
            items[trade_id] = (trade_from_fields(fields, symbol, now), fields, "")
        except InvalidRecord as err:
            items[trade_id] = (None, fields, err.reason)
    return items


def _reason(err: BinanceError, refused: bool) -> str:
    if refused:
        return f"the exchange refused: {err}"
    return f"the exchange failed for longer than the fill timeout: {err.kind}: {err}"
