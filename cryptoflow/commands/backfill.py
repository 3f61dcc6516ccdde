"""``backfill candles SYMBOL --since ...`` and ``backfill trades SYMBOL --since ...``:
the past of a symbol from Binance's REST into the database. ``backfill SYMBOL --since
...``, the spelling from before trades could be backfilled, still means candles, so
scripts written for it keep working: the first argument is ``candles``, ``trades`` or a
configured symbol.

Candles come from the klines (cryptoflow/sources/backfill.py). Trades: the range is cut
at UTC hours (``hour_windows``, the ledger's unit); an hour the ledger already marks
``backfilled.complete`` is skipped without a request. For each other window the first
page is asked by time (``startTime``/``endTime``, at most an hour, as Binance allows),
the rest by id from the page's last one until a trade at or past the window's end (or
a short page: the exchange has no more). Each item is validated by
``records.trade_from_fields`` and the trades inside the range go, in id order, through
one ``sinks.history.HistoryWriter``: trades with their natural ``_id`` (a rerun stores
none twice), the candles as the live path folds them, the ledger's ``backfilled`` part
with the hours the range holds whole marked complete. A run stopped midway is run again
with the same arguments: the hours it finished are skipped, the one it was in is asked
again.

Each run sends through one ``BinanceClient``, the command's whole REST budget, every
request under the commands' retry policy (``retried``). A failure that outlasts it ends
the run with one line naming the kind of failure and what to check, exit status 1.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click
from faust.cli import argument, option

from cryptoflow.app import app
from cryptoflow.commands import Target, _moment, _symbol, command
from cryptoflow.exceptions import BinanceError, InvalidRecord
from cryptoflow.records import Trade, format_ts, trade_from_fields
from cryptoflow.sinks.history import HistoryWriter, Written
from cryptoflow.sinks.mongo import COVERAGE, TickStore
from cryptoflow.sources.backfill import ATTEMPTS, Coverage, Span, minutes, retried, to_ms
from cryptoflow.sources.backfill import backfill as load_klines
from cryptoflow.sources.binance import AGG_TRADES_MAX, BinanceClient

log = logging.getLogger(__name__)

UNAVAILABLE_SHOWN = 10  # spans without klines named in the closing line; the rest counted
UNREADABLE_SHOWN = 10  # ids of unreadable aggTrades items named in the closing line
KINDS = ("candles", "trades")
HOUR = timedelta(hours=1)
T = TypeVar("T")


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


def _kind_and_symbol(ctx: click.Context, param: click.Parameter, second: str | None) -> str:
    """The callback of the second argument, run after the first (``kind``): with
    ``candles`` or ``trades`` first the second is the symbol; else the first is the
    symbol (the old spelling, candles) and there is no second. It sets ``kind`` to
    what is backfilled and returns the symbol, checked by ``_symbol``, so a typo is a
    usage error that lists the configured symbols."""
    first = ctx.params["kind"]
    if first.lower() in KINDS:
        ctx.params["kind"] = first.lower()
        if second is None:
            known = ", ".join(app.settings.tick_symbols)
            raise click.UsageError(f"Missing argument 'SYMBOL' ({known}).", ctx)
        return _symbol(ctx, param, second)
    if second is not None:
        raise click.UsageError(
            f"{first!r} is not {' or '.join(KINDS)}: backfill [candles|trades] SYMBOL", ctx)
    ctx.params["kind"] = "candles"
    return _symbol(ctx, param, first)


@command(
    argument("kind", metavar="[candles|trades]"),
    argument("symbol", metavar="SYMBOL", required=False, callback=_kind_and_symbol),
    option("--since", required=True, callback=_moment, help="first minute, e.g. 2024-01-01"),
    option("--until", callback=_moment, help="end (exclusive); default: the last closed minute"),
    option("--interval", type=click.Choice(["1m"]), default="1m", show_default=True,
           help="candle size (candles_1m; candles only)"),
)
async def backfill(
    target: Target, store: TickStore, kind: str, symbol: str, since: datetime,
    until: datetime | None, interval: str,
) -> None:
    """Fill SYMBOL's range from Binance: candles (the default) are the minutes without a
    candle in candles_1m, from Binance's klines; trades are the aggregate trades, stored
    as recording stores them, with their candles and the coverage ledger. A rerun does
    what is still missing."""
    end = until or datetime.now(UTC).replace(second=0, microsecond=0)
    if end <= since:
        raise SystemExit("--until must come after --since")
    started = time.monotonic()
    label = f"{symbol} {interval} candles" if kind == "candles" else f"{symbol} trades"
    with click.progressbar(length=minutes((since, end)), label=label, show_pos=True,
                           show_eta=True, file=sys.stderr) as bar:
        if kind == "candles":
            coverage = await _asking(target, symbol, lambda binance: load_klines(
                binance, store, symbol, since, end, bar.update))
        else:
            trades = await _asking(target, symbol, lambda binance: backfill_trades(
                binance, store, symbol, since, end, bar.update))
    elapsed = time.monotonic() - started
    line = (describe(symbol, coverage, elapsed, target.where()) if kind == "candles" else
            describe_trades(symbol, trades, elapsed, target.where()))
    print(line, file=sys.stderr)


async def _asking(
    target: Target, symbol: str, run: Callable[[BinanceClient], Awaitable[T]],
) -> T:
    """``run`` with the run's one client (closed after); a ``BinanceError`` it gives up
    on ends the command in one line, with what to check."""
    binance = BinanceClient(target.binance_url, app.settings.http_timeout,
                            app.settings.rest_weight_budget)
    try:
        return await run(binance)
    except BinanceError as err:
        check = ("is the demo running? start it with make demo" if target.demo else
                 "offline? start make demo and add --demo: its simulated exchange and database")
        raise SystemExit(
            f"Binance: {err.kind}: {err} (backfill of {symbol} stopped after "
            f"{ATTEMPTS} tries; {check})",
        ) from None
    finally:
        await binance.close()


def describe(symbol: str, coverage: Coverage, elapsed: float, where: str) -> str:
    """The closing line: what was written where, and what the range holds now, truthfully."""
    line = (f"{symbol}: candles_1m: {coverage.written} minute(s) written to the {where} in "
            f"{elapsed:.1f}s "
            f"({coverage.written / max(elapsed, 1e-9):.0f}/s); the range now has candles "
            f"for {coverage.covered} of {coverage.minutes} minutes")
    if not coverage.unavailable:
        return line
    shown = ", ".join(f"{format_ts(start)} to {format_ts(end)} ({minutes((start, end))})"
                      for start, end in coverage.unavailable[:UNAVAILABLE_SHOWN])
    more = len(coverage.unavailable) - UNAVAILABLE_SHOWN
    return (f"{line}; minutes the exchange had no kline for: {shown}"
            + (f" and {more} more span(s)" if more > 0 else ""))


def describe_trades(symbol: str, done: TradeBackfill, elapsed: float, where: str) -> str:
    """The closing line of a trades backfill: trades new and already stored, candles,
    hours asked and skipped, the rate, the database; the ids the exchange sent no
    readable trade for, if any."""
    written = done.written
    received = written.inserted + written.present
    line = (f"{symbol}: trades: {written.inserted} new, {written.present} already stored, "
            f"{written.candles} 1m candle(s) written to the {where} in {elapsed:.1f}s "
            f"({received / max(elapsed, 1e-9):.0f} trades/s); "
            f"{done.hours - done.skipped} of {done.hours} hour(s) asked, {done.skipped} "
            f"complete already")
    extra: list[str] = []
    if written.rejected:
        extra.append(f"{len(written.rejected)} trade(s) the database refused")
    if done.unreadable:
        ids = ", ".join(map(str, done.unreadable[:UNREADABLE_SHOWN]))
        more = len(done.unreadable) - UNREADABLE_SHOWN
        extra.append(f"{len(done.unreadable)} item(s) the exchange sent were no trade "
                     f"(ids {ids}{f' and {more} more' if more > 0 else ''}): not stored")
    return "; ".join([line, *extra])
