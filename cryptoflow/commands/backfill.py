"""``backfill candles SYMBOL --since ...`` and ``backfill trades SYMBOL --since ...``:
the past of a symbol from Binance's REST into the database. ``backfill SYMBOL --since
...``, the spelling from before trades could be backfilled, still means candles, so
scripts written for it keep working: the first argument is ``candles``, ``trades`` or a
configured symbol.

What is fetched and how (candles from the klines, trades hour by hour from aggTrades,
resumable through the coverage ledger) is cryptoflow/sources/backfill.py; this module
is the command line, the progress bar and the closing line.

Each run sends through one ``BinanceClient``, the command's whole REST budget, every
request under the commands' retry policy (``retried``). A failure that outlasts it ends
the run with one line naming the kind of failure and what to check, exit status 1.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import click
from faust.cli import argument, option

from cryptoflow.app import app
from cryptoflow.commands import Target, _moment, _symbol, command
from cryptoflow.exceptions import BinanceError
from cryptoflow.records import format_ts
from cryptoflow.sinks.mongo import TickStore
from cryptoflow.sources.backfill import (
    ATTEMPTS,
    Coverage,
    TradeBackfill,
    backfill_trades,
    minutes,
)
from cryptoflow.sources.backfill import backfill as load_klines
from cryptoflow.sources.binance import BinanceClient

log = logging.getLogger(__name__)

UNAVAILABLE_SHOWN = 10  # spans without klines named in the closing line; the rest counted
UNREADABLE_SHOWN = 10  # ids of unreadable aggTrades items named in the closing line
KINDS = ("candles", "trades")
HOUR = timedelta(hours=1)
T = TypeVar("T")


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
