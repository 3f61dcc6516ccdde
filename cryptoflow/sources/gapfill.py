"""Fill a gap in a symbol's trade stream from REST, by aggregate trade id.

``GapFiller.fill`` asks ``GET /api/v3/aggTrades?fromId=`` page by page (weight 4, within
the client's weight budget and Retry-After) and hands each trade on in id order until
it meets the live stream (the first id the stream holds) or, with no live trade yet,
until the exchange has nothing newer. What the exchange no longer has, or refuses to
serve, or cannot serve for ``timeout`` seconds of failures in a row, is an unfilled
``Gap``: recorded through ``record_gap`` (which logs, counts and stores it), never
skipped in silence. So is everything past ``most`` ids from where the fill began: a
fill is bounded (``CRYPTOFLOW_GAP_FILL_MAX_IDS``), whatever id the stream claims. When
the exchange has nothing from the next id on although the stream holds a later one, the
fill ends ``ahead``: the stream's trade is ahead of the exchange's own record (for a
moment, or for good), and its owner decides what that trade is. At most
``concurrency`` fills run at once, so a reconnect of hundreds of symbols stays within
Binance's weight limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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

BOUND_WAIT = 0.25  # seconds between looks for the stream's first id, at the fill bound


@dataclass(frozen=True)
class FillEnd:
    """Where a fill ended: the next id the stream needs; ``ahead``: the exchange has
    nothing from it on, although the stream holds a later id."""

    next_id: int
    ahead: bool = False


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
        most: int,
    ) -> FillEnd:
        """Hand on trades ``from_id..`` until the live stream (``live_from()``: the first
        id it holds, or None) is met, at most ``most`` ids of them."""
        async with self._slots:
            return await self._fill(symbol, from_id, live_from, emit, from_id + most)

    async def _fill(
        self, symbol: str, next_id: int, live_from: Callable[[], int | None], emit: Emit,
        bound: int,
    ) -> FillEnd:
        delays = self.backoff.delays()
        failing_since: float | None = None
        filled = 0
        while (stop := live_from()) is None or next_id < stop:
            if next_id >= bound:
                if stop is None:  # the stream has not said yet where it stands
                    await asyncio.sleep(BOUND_WAIT)
                    continue
                await self.record_gap(Gap(symbol, next_id, stop - 1), _beyond(bound))
                return FillEnd(stop)
            try:
                page = await self.client.fetch_agg_trades(symbol, next_id, AGG_TRADES_MAX)
            except BinanceRateLimited as err:
                await asyncio.sleep(max(self.client.retry_in(), min(err.retry_after, 1.0)))
                continue
            except BinanceError as err:
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                refused = isinstance(err, BinanceApiError)
                if (refused or now - failing_since > self.timeout) and stop is not None:
                    await self.record_gap(Gap(symbol, next_id, stop - 1), _reason(err, refused))
                    return FillEnd(stop)
                await asyncio.sleep(next(delays))  # the end of the gap is not known yet
                continue
            failing_since = None
            by_id = _by_id(symbol, page)
            ids = sorted(by_id)
            stop = live_from()
            end = bound if stop is None else min(stop, bound)
            if not ids or ids[-1] < next_id:  # nothing from next_id on
                if stop is None:
                    break  # nothing newer on the exchange: caught up
                return FillEnd(next_id, ahead=True)
            coverage = page_coverage(next_id, ids, end)
            missing = coverage.missing
            if not coverage.take:  # the exchange's next id is at or past the end
                missing = [(next_id, end - 1)]
            for first, last in missing:
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
            next_id = coverage.next_id if coverage.take else end
            if len(page) < AGG_TRADES_MAX and live_from() is None:
                break  # the last page: caught up with the exchange
        if filled:
            metrics.TRADE_GAPS.labels("filled").inc()
            log.info("Binance stream: %s: %d trade(s) filled from REST up to id %d",
                     symbol, filled, next_id - 1)
        return FillEnd(next_id)


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


def _beyond(bound: int) -> str:
    return (f"more ids missing than one fill takes (CRYPTOFLOW_GAP_FILL_MAX_IDS): not "
            f"fetched from id {bound} on")


def _reason(err: BinanceError, refused: bool) -> str:
    if refused:
        return f"the exchange refused: {err}"
    return f"the exchange failed for longer than the fill timeout in a row: {err.kind}: {err}"
