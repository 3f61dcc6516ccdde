"""Commands, as faust app commands (``faust -A cryptoflow <command> --help``).

``latest``, ``stats BTCUSDT [--limit 100]`` and ``jumps BTCUSDT [--threshold 0.01]``
are the original design's query helpers: they read MongoDB and print a readable
table (``--json`` for machines); the numbers come from pure functions below.
``backfill BTCUSDT --since 2024-01-01`` loads Binance's 1-minute klines into
``candles_1m`` (see ``cryptoflow.sources.backfill``).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import click
from faust.cli import AppCommand, argument, option

from cryptoflow.app import app
from cryptoflow.exceptions import BinanceError
from cryptoflow.records import format_ts
from cryptoflow.settings import topic_name
from cryptoflow.sources.backfill import ATTEMPTS, Coverage, minutes
from cryptoflow.sources.backfill import backfill as load_klines

UNAVAILABLE_SHOWN = 10  # spans without klines named in the closing line; the rest counted


def window_stats(prices: Sequence[float]) -> dict[str, Any]:
    """min/max/avg/count of the last N prices, as the original ``stats`` helper."""
    if not prices:
        return {"count": 0, "min": None, "max": None, "avg": None}
    return {"count": len(prices), "min": min(prices), "max": max(prices),
            "avg": statistics.fmean(prices)}


def consecutive_jumps(
    ticks: Sequence[tuple[float, datetime]], threshold: float,
) -> list[dict[str, Any]]:
    """Moves between consecutive ticks (oldest first) beyond ``threshold``."""
    jumps = []
    for (before, before_ts), (after, after_ts) in pairwise(ticks):
        change = (after - before) / before
        if abs(change) > threshold:
            jumps.append({"from_ts": format_ts(before_ts), "ts": format_ts(after_ts),
                          "from_price": before, "to_price": after, "change_pct": change * 100})
    return jumps


def render(rows: list[dict[str, Any]], as_json: bool) -> str:
    """A plain text table (or JSON) of ``rows``, columns in the order of the first row."""
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "(nothing stored yet)"
    columns = list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.8g}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def _symbol(_ctx: click.Context, _param: click.Parameter, raw: str) -> str:
    """Checked by click before the command runs, so a typo is a usage error."""
    symbol = raw.upper()
    if symbol not in app.settings.symbols:
        known = ", ".join(app.settings.symbols)
        raise click.BadParameter(f"{raw} is not a configured symbol ({known})")
    return symbol


async def _last_ticks(symbol: str, limit: int) -> list[dict[str, Any]]:
    return await app.store.last_ticks(topic_name(symbol), symbol, limit)


@app.command(option("--json", "as_json", is_flag=True, help="print JSON"))
async def latest(self: AppCommand, as_json: bool) -> None:
    """Latest stored price of every configured symbol."""
    rows = []
    for symbol in app.settings.symbols:
        ticks = await _last_ticks(symbol, 1)
        rows.append({"symbol": symbol, "price": ticks[-1]["price"] if ticks else None,
                     "ts": format_ts(ticks[-1]["ts"]) if ticks else None})
    print(render(rows, as_json))


@app.command(
    argument("symbol", callback=_symbol),
    option("--limit", type=int, default=100, show_default=True, help="last N ticks"),
    option("--json", "as_json", is_flag=True, help="print JSON"),
)
async def stats(self: AppCommand, symbol: str, limit: int, as_json: bool) -> None:
    """min/max/avg/count over the last N stored ticks of SYMBOL."""
    ticks = await _last_ticks(symbol, limit)
    print(render([{"symbol": symbol, **window_stats([t["price"] for t in ticks])}],
                 as_json))


@app.command(
    argument("symbol", callback=_symbol),
    option("--threshold", type=float, default=0.02, show_default=True,
           help="relative move, 0.01 = 1 %"),
    option("--limit", type=int, default=1000, show_default=True, help="last N ticks"),
    option("--json", "as_json", is_flag=True, help="print JSON"),
)
async def jumps(
    self: AppCommand, symbol: str, threshold: float, limit: int, as_json: bool,
) -> None:
    """Jumps between consecutive stored ticks of SYMBOL beyond --threshold."""
    ticks = await _last_ticks(symbol, limit)
    rows = consecutive_jumps([(t["price"], t["ts"]) for t in ticks], threshold)
    print(render(rows, as_json))


def _moment(_ctx: click.Context, param: click.Parameter, raw: str | None) -> datetime | None:
    """A date or ISO-8601 time (UTC unless it says otherwise), cut to the minute."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(f"not a date or ISO-8601 time: {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


@app.command(
    argument("symbol", callback=_symbol),
    option("--since", required=True, callback=_moment, help="first minute, e.g. 2024-01-01"),
    option("--until", callback=_moment, help="end (exclusive); default: the last closed minute"),
    option("--interval", type=click.Choice(["1m"]), default="1m", show_default=True,
           help="candle size (candles_1m)"),
)
async def backfill(
    self: AppCommand, symbol: str, since: datetime, until: datetime | None, interval: str,
) -> None:
    """Fill every minute of SYMBOL's range that has no candle in candles_1m from
    Binance's klines; a rerun fills what is still missing."""
    end = until or datetime.now(UTC).replace(second=0, microsecond=0)
    if end <= since:
        raise click.BadParameter("--until must come after --since")
    started = time.monotonic()
    try:
        with click.progressbar(length=minutes((since, end)), label=f"{symbol} {interval} candles",
                               show_pos=True, show_eta=True, file=sys.stderr) as bar:
            coverage = await load_klines(app.binance, app.store, symbol, since, end, bar.update)
    except BinanceError as err:
        raise SystemExit(
            f"Binance: {err.kind}: {err} (backfill of {symbol} stopped after "
            f"{ATTEMPTS} tries; offline? start `make demo` and run the backfill with "
            f"CRYPTOFLOW_BINANCE_URL=http://127.0.0.1:8081, its simulated exchange)",
        ) from None
    finally:
        await app.binance.close()
        await app.store.close()
    print(describe(symbol, coverage, time.monotonic() - started), file=sys.stderr)


def describe(symbol: str, coverage: Coverage, elapsed: float) -> str:
    """The closing line: what was written and what the range holds now, truthfully."""
    line = (f"{symbol}: candles_1m: {coverage.written} minute(s) written in {elapsed:.1f}s "
            f"({coverage.written / max(elapsed, 1e-9):.0f}/s); the range now has candles "
            f"for {coverage.covered} of {coverage.minutes} minutes")
    if not coverage.unavailable:
        return line
    shown = ", ".join(f"{format_ts(start)} to {format_ts(end)} ({minutes((start, end))})"
                      for start, end in coverage.unavailable[:UNAVAILABLE_SHOWN])
    more = len(coverage.unavailable) - UNAVAILABLE_SHOWN
    return (f"{line}; minutes the exchange had no kline for: {shown}"
            + (f" and {more} more span(s)" if more > 0 else ""))
