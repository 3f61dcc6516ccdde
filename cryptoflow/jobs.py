"""Scheduled jobs, run by faust on the group's leader (``on_leader=True``).

Candles: every ``CRYPTOFLOW_CANDLE_INTERVAL`` seconds the 1-minute OHLC candles of
the closed minutes are (re)built from the ticks stored in MongoDB and upserted into
``candles_1m`` (unique on symbol + start). Building them from the stored ticks,
not from faust's ``on_window_close`` (which fires when a window expires, and can
miss windows across restarts and rebalances, faust-streaming #185), makes a candle
equal to its ticks and makes the job safe to repeat: each run redoes the newest
candle (late ticks) and catches up on at most ``LOOKBACK`` of missed minutes.
A tick candle fills only a minute with no candle of a better source: one built from
the streamed trades (agents/trades.py) or a backfilled kline is never replaced, so
with trades streamed the job writes the minutes the stream missed (unreachable, say)
until their trades come and the trades agent replaces them.

Hourly candles: at minute 1 of every hour (crontab, UTC) the closed hours'
1-minute candles are rolled up into ``candles_1h`` the same idempotent way.

Retention: every ``CRYPTOFLOW_RETENTION_INTERVAL`` seconds the ticks older than
``CRYPTOFLOW_RETENTION_DAYS`` are deleted by ``_id`` range (a tick's ``_id`` is its
event time), not by a TTL index, which would cost every write a second index entry.

Every run counts itself in ``cryptoflow_job_runs_total`` and what it wrote in
``cryptoflow_job_documents_total``; one that wrote something logs it at INFO, with its
duration; a failing run is logged and retried at the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from pymongo.errors import PyMongoError

from cryptoflow import metrics
from cryptoflow.app import app
from cryptoflow.settings import topic_name
from cryptoflow.tables.series import (
    CANDLES_1M,
    INTERVALS,
    minute_candles,
    rolled_up,
    tick_candles_start,
)

log = logging.getLogger(__name__)

CANDLES, LOOKBACK = CANDLES_1M, INTERVALS["1m"].built_within
HOURLY, HOURLY_LOOKBACK = "candles_1h", INTERVALS["1h"].built_within
HOUR = INTERVALS["1h"].size
RETENTION = "tick_retention"
TICK_CANDLE = {"source": {"$exists": False}}  # a candle built from ticks has no source


async def build_candles(now: datetime) -> int:
    """Upsert the tick candles of the closed minutes after the newest stored candle (from
    it, if a tick candle); returns how many were written. The candles read are those of
    the last ``LOOKBACK`` only, through the symbol + start index."""
    end = now.replace(second=0, microsecond=0)  # the newest closed minute ends here
    earliest = end - LOOKBACK
    written = 0
    for symbol in app.settings.tick_symbols:
        start = tick_candles_start(
            await app.store.candles_between(CANDLES, symbol, earliest, end), earliest)
        if start < end:
            # Where the stored candle has another source (the trades agent writes one
            # whenever its trades come, also between this read and this write), it stays.
            written += await app.store.replace_only(CANDLES, minute_candles(
                symbol, await app.store.ticks_between(topic_name(symbol), start, end)),
                TICK_CANDLE)
    return written


async def build_hourly_candles(now: datetime) -> int:
    """Roll the closed hours' 1-minute candles up into ``candles_1h``."""
    end = now.replace(minute=0, second=0, microsecond=0)
    written = 0
    for symbol in app.settings.symbols:
        newest = await app.store.latest_start(HOURLY, symbol)
        start = max(newest or end - HOURLY_LOOKBACK, end - HOURLY_LOOKBACK)
        docs = rolled_up(
            symbol, await app.store.candles_between(CANDLES, symbol, start, end), HOUR)
        await app.store.replace(HOURLY, docs)
        written += len(docs)
    return written


async def delete_old_ticks(now: datetime) -> int:
    """Delete every symbol's ticks older than the retention; returns how many."""
    if not app.settings.retention_days:
        return 0
    cutoff = now - timedelta(days=app.settings.retention_days)
    deleted = 0
    for symbol in app.settings.tick_symbols:
        deleted += await app.store.delete_before(topic_name(symbol), cutoff)
    return deleted


async def run_job(name: str, build: Callable[[datetime], Awaitable[int]]) -> None:
    """Run one job, count it and what it wrote; never raise. A run that wrote something
    is logged at INFO with its count and duration, one that wrote nothing at DEBUG (the
    candle job runs every minute), a failed one as an error."""
    started = time.monotonic()
    log.debug("job %s: start", name)
    try:
        written = await build(datetime.now(UTC))
    except PyMongoError as err:
        metrics.JOB_RUNS.labels(name, "failed").inc()
        log.error("job %s: failed (%s: %s); it runs again at its next time",
                  name, type(err).__name__, err)
        return
    metrics.JOB_RUNS.labels(name, "ok").inc()
    metrics.JOB_DOCUMENTS.labels(name).inc(written)
    log.log(logging.INFO if written else logging.DEBUG,
            "job %s: %d document(s) written or deleted in %.2fs", name, written,
            time.monotonic() - started)


@app.timer(app.settings.candle_interval, on_leader=True, name="candles_1m")
async def candles_job() -> None:
    await run_job(CANDLES, build_candles)


@app.crontab("1 * * * *", on_leader=True)  # minute 1 of every hour, UTC
async def hourly_candles_job() -> None:
    await run_job(HOURLY, build_hourly_candles)


@app.timer(app.settings.retention_interval, on_leader=True, name=RETENTION)
async def retention_job() -> None:
    await run_job(RETENTION, delete_old_ticks)
