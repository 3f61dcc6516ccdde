"""Backfill from Binance's REST: 1-minute candles from its klines, aggregate trades from
its aggTrades.

Candles: every minute of the range that has no candle yet is filled, wherever it is: the
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

Trades (``backfill_trades``): the range is cut at UTC hours (``hour_windows``, the
ledger's unit); an hour the ledger already marks ``backfilled.complete`` is skipped
without a request. For each other window the first page is asked by time
(``startTime``/``endTime``, at most an hour, as Binance allows), the rest by id from the
page's last one until a trade at or past the window's end (or a short page: the exchange
has no more). Each item is validated by ``records.trade_from_fields`` and the trades
inside the range go, in id order, through one ``sinks.history.HistoryWriter``: trades
with their natural ``_id`` (a rerun stores none twice), the candles as the live path
folds them, the ledger's ``backfilled`` part with the hours the range holds whole marked
complete. A run stopped midway is run again with the same arguments: the hours it
finished are skipped, the one it was in is asked again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cryptoflow.backoff import Backoff
from cryptoflow.exceptions import BinanceError, BinanceRateLimited, InvalidRecord
from cryptoflow.records import Trade, trade_from_fields
from cryptoflow.sinks.history import HistoryWriter, Written
from cryptoflow.sinks.mongo import COVERAGE, TickStore
from cryptoflow.sources.binance import AGG_TRADES_MAX, KLINES_MAX, BinanceClient, Kline
from cryptoflow.tables.series import CANDLES_1M as CANDLES

log = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
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


@dataclass
class TradeBackfill:
    """What a trades backfill did: the hour windows of the range, those skipped because
    the ledger marks their hour backfilled and complete, what the writer wrote, and the
    ids of items the exchange sent that are no trade (not stored: the ledger shows them
    missing)."""

    hours: int
    skipped: int = 0
    written: Written = field(default_factory=Written)
    unreadable: list[int] = field(default_factory=list)


def hour_windows(since: datetime, until: datetime) -> list[Span]:
    """[since, until) cut at UTC hours, oldest first: each window lies within one hour
    (the ledger's unit), the first and last may be part of theirs."""
    windows: list[Span] = []
    start = since
    while start < until:
        end = min(start.replace(minute=0, second=0, microsecond=0) + HOUR, until)
        windows.append((start, end))
        start = end
    return windows


async def complete_hours(
    store: TickStore, symbol: str, since: datetime, until: datetime,
) -> set[datetime]:
    """The hours of [since, until) whose ledger ``backfilled`` part is complete: a run
    stored every trade of them."""
    first = since.replace(minute=0, second=0, microsecond=0)
    return {doc["hour"].astimezone(UTC)
            for doc in await store.ledger_hours(COVERAGE, symbol, first, until)
            if (doc.get("backfilled") or {}).get("complete")}


async def backfill_trades(
    client: BinanceClient, store: TickStore, symbol: str, since: datetime, until: datetime,
    progress: Callable[[int], None], page: int = AGG_TRADES_MAX,
) -> TradeBackfill:
    """Store every aggregate trade of ``symbol`` in [since, until) (whole minutes) of the
    hours the ledger does not hold as backfilled and complete; ``progress`` is told the
    minutes done. A ``BinanceError`` (after ``retried``) ends it, and what was stored
    is then in the ledger, the hour of the window it was in not marked complete."""
    windows = hour_windows(since, until)
    done = TradeBackfill(hours=len(windows))
    skip = await complete_hours(store, symbol, since, until)
    writer = HistoryWriter(store, symbol, part="backfilled", covers=(to_ms(since), to_ms(until)))
    finished = since  # the windows before it are done
    try:
        for start, end in windows:
            if start.replace(minute=0) in skip:
                done.skipped += 1
            else:
                await _window(client, writer, symbol, (start, end), done, page)
            progress(minutes((start, end)))
            finished = end
    except BinanceError:
        # What is stored goes into the ledger; only the finished windows count as covered,
        # so the hour it was in is not marked complete, and a rerun asks for it again.
        writer.covers = (to_ms(since), to_ms(finished))
        await writer.finish()
        raise
    done.written = await writer.finish()
    return done


async def _window(
    client: BinanceClient, writer: HistoryWriter, symbol: str, window: Span,
    done: TradeBackfill, page: int,
) -> None:
    """Every trade of one window: the first page by time, then by id from the last one."""
    start_ms, end_ms = to_ms(window[0]), to_ms(window[1])
    items = await retried(functools.partial(
        client.fetch_agg_trades_between, symbol, start_ms, end_ms - 1, limit=page), "backfill")
    while items:
        trades, last_id = _trades(symbol, items, done)
        await writer.write([trade for trade in trades if start_ms <= trade.time_ms < end_ms])
        if (len(items) < page or last_id is None
                or any(trade.time_ms >= end_ms for trade in trades)):
            return  # the exchange has no more, or this page reached the window's end
        items = await retried(functools.partial(
            client.fetch_agg_trades, symbol, last_id + 1, page), "backfill")


def _trades(
    symbol: str, items: list[dict[str, Any]], done: TradeBackfill,
) -> tuple[list[Trade], int | None]:
    """The page's trades in id order, each checked by ``trade_from_fields`` (one Binance
    marks invalid is a ``Trade`` flagged so), and the page's last id (None: no item had
    one). An item that is no trade is logged, its id kept in ``done.unreadable``."""
    now = datetime.now(UTC)
    trades: list[Trade] = []
    ids: list[int] = []
    for item in items:
        raw = item.get("a")
        trade_id = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        if trade_id is not None:
            ids.append(trade_id)
        try:
            trades.append(trade_from_fields(item, symbol, now))
        except InvalidRecord as err:
            log.warning("backfill: Binance aggTrades: %s: not a trade (%s): %.200r",
                        symbol, err.reason, item)
            if trade_id is not None:
                done.unreadable.append(trade_id)
    return sorted(trades, key=lambda trade: trade.trade_id), max(ids, default=None)
