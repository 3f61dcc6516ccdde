"""Scheduled jobs, run by faust on the group's leader (``on_leader=True``).

Candles: every ``CRYPTOFLOW_CANDLE_INTERVAL`` seconds the 1-minute OHLC candles of
the closed minutes are (re)built from the ticks stored in MongoDB and upserted into
``candles_1m`` (unique on symbol + start). Building them from the stored ticks,
not from faust's ``on_window_close`` (which fires when a window expires, and can
miss windows across restarts and rebalances, faust-streaming #185), makes a candle
equal to its ticks and makes the job safe to repeat: each run redoes the newest
candle (late ticks) and catches up on at most ``LOOKBACK`` of missed minutes.

Every run logs its start, end, documents written and duration, and counts itself
in ``cryptoflow_job_runs_total``; a failing run is logged and retried at the next.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from pymongo.errors import PyMongoError

from cryptoflow import metrics
from cryptoflow.app import app
from cryptoflow.records import PriceTick
from cryptoflow.settings import topic_name
from cryptoflow.tables.candles import candle

log = logging.getLogger(__name__)

CANDLES = "candles_1m"
MINUTE = timedelta(minutes=1)
LOOKBACK = timedelta(hours=1)


async def build_candles(now: datetime) -> int:
    """Upsert the candles of the closed minutes; returns how many were written."""
    end = now.replace(second=0, microsecond=0)  # the newest closed minute ends here
    written = 0
    for symbol in app.settings.symbols:
        newest = await app.store.latest_start(CANDLES, symbol)
        start = max(newest or end - LOOKBACK, end - LOOKBACK)
        by_minute: dict[datetime, list[PriceTick]] = defaultdict(list)
        for doc in await app.store.ticks_between(topic_name(symbol), symbol, start, end):
            minute = doc["ts"].replace(second=0, microsecond=0)
            by_minute[minute].append(PriceTick(symbol=symbol, price=doc["price"], ts=doc["ts"]))
        docs = [doc for minute, ticks in sorted(by_minute.items())
                if (doc := candle(symbol, minute, minute + MINUTE, ticks)) is not None]
        await app.store.replace(CANDLES, docs)
        written += len(docs)
    return written


@app.timer(app.settings.candle_interval, on_leader=True, name="candles_1m")
async def candles_job() -> None:
    started = time.monotonic()
    log.info("job candles_1m: start")
    try:
        written = await build_candles(datetime.now(UTC))
    except PyMongoError as err:
        metrics.JOB_RUNS.labels("candles_1m", "failed").inc()
        log.error("job candles_1m: failed (%s: %s); next run in %gs", type(err).__name__, err,
                  app.settings.candle_interval)
        return
    metrics.JOB_RUNS.labels("candles_1m", "ok").inc()
    metrics.JOB_DOCUMENTS.labels("candles_1m").inc(written)
    log.info("job candles_1m: end, %d candle(s) written in %.2fs", written,
             time.monotonic() - started)
