"""Backfill 1-minute candles from Binance's klines into ``candles_1m``.

Pages of up to 1,000 klines, oldest first, each upserted (``_id`` = symbol +
start) before the next is asked for, so an interrupted run loses nothing and a
new run resumes after the newest candle it finds in the range. A 429/418 waits
out its Retry-After; other failures are retried with backoff a few times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptoflow.backoff import Backoff
from cryptoflow.exceptions import BinanceError, BinanceRateLimited
from cryptoflow.sinks.mongo import TickStore
from cryptoflow.sources.binance import KLINES_MAX, BinanceClient, Kline

log = logging.getLogger(__name__)

CANDLES = "candles_1m"
MINUTE = timedelta(minutes=1)
ATTEMPTS = 8


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def kline_candle(symbol: str, kline: Kline) -> dict[str, Any]:
    """A candle from Binance's own kline; it has no ticks, so no mean or stddev."""
    start = datetime.fromtimestamp(kline.open_time / 1000, tz=UTC)
    return {
        "_id": f"{symbol}/{start.isoformat()}",
        "symbol": symbol, "start": start, "end": start + MINUTE,
        "open": kline.open, "high": kline.high, "low": kline.low, "close": kline.close,
        "count": kline.trades, "mean": None, "stddev": None, "source": "binance-klines",
    }


async def backfill(
    client: BinanceClient, store: TickStore, symbol: str, since: datetime, until: datetime,
    progress: Callable[[int], None], page: int = KLINES_MAX,
) -> int:
    """Write the candles of [since, until); returns how many this run wrote."""
    newest = await store.latest_start(CANDLES, symbol, within=(since, until))
    start = newest + MINUTE if newest is not None else since
    if start > since:
        log.info("backfill %s: resuming at %s", symbol, start.isoformat())
        progress(int((start - since) / MINUTE))
    written = 0
    while start < until:
        klines = await _page(client, symbol, start, until, page)
        if not klines:
            break
        docs = [kline_candle(symbol, kline) for kline in klines]
        await store.replace(CANDLES, docs)
        written += len(docs)
        progress(len(docs))
        start = docs[-1]["start"] + MINUTE
    return written


async def _page(
    client: BinanceClient, symbol: str, start: datetime, until: datetime, page: int,
) -> list[Kline]:
    delays = Backoff(base=1.0, cap=30.0).delays()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await client.fetch_klines(
                symbol, to_ms(start), to_ms(until) - 1, limit=page)
        except BinanceRateLimited as err:
            log.warning("backfill: %s; waiting %.1fs", err, err.retry_after)
            await asyncio.sleep(err.retry_after)
        except BinanceError as err:
            if attempt == ATTEMPTS:
                raise
            delay = next(delays)
            log.warning("backfill: %s (attempt %d); again in %.1fs", err, attempt, delay)
            await asyncio.sleep(delay)
    raise BinanceRateLimited(429, 0, f"still rate limited after {ATTEMPTS} waits")
