"""The JSON API's request parsing and response shapes. Pure: views call these.

Every bad request becomes an ``ApiError`` here, so each 4xx answer is decided in
one place and unit-tested without a worker.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from cryptoflow.exceptions import ApiError, InvalidTick
from cryptoflow.records import PriceTick, format_ts, parse_ts
from cryptoflow.tables.stats import RollingStats
from cryptoflow.tables.windows import DEFAULT_WINDOW, WINDOWS, WindowSpec

MAX_PARAM_CHARS = 64


def parse_symbol(raw: str, symbols: Collection[str]) -> str:
    symbol = raw.upper()
    if symbol not in symbols:
        raise ApiError(404, f"unknown symbol {raw[:MAX_PARAM_CHARS]!r}; "
                            f"known: {', '.join(sorted(symbols))}", param="symbol")
    return symbol


def parse_window(query: Mapping[str, str]) -> WindowSpec:
    name = query.get("window", DEFAULT_WINDOW)
    if name not in WINDOWS:
        raise ApiError(400, f"window must be one of {', '.join(WINDOWS)}, "
                            f"got {name[:MAX_PARAM_CHARS]!r}", param="window")
    return WINDOWS[name]


def parse_at(query: Mapping[str, str], now: datetime) -> datetime | None:
    """``at`` as ISO-8601 (a zone is required); bounded, so it never reaches faust's
    window code with a value that hangs it (LOCAL-STACK.md)."""
    raw = query.get("at")
    if raw is None:
        return None
    if len(raw) > MAX_PARAM_CHARS:
        raise ApiError(400, "at is too long to be an ISO-8601 time", param="at")
    try:
        return parse_ts(raw.replace(" ", "+"), now)  # a '+' in a query arrives as ' '
    except InvalidTick as err:
        raise ApiError(400, f"at: {err.reason}", param="at") from None


def window_stats(
    symbol: str, spec: WindowSpec, at: datetime, stats: RollingStats,
) -> dict[str, Any]:
    start, end = spec.bounds(at)
    return {
        "symbol": symbol,
        "window": {"size": spec.name, "start": format_ts(start), "end": format_ts(end)},
        **stats.summary(),
    }


def latest_price(symbol: str, tick: PriceTick | None) -> dict[str, Any]:
    if tick is None:
        return {"symbol": symbol, "price": None, "ts": None}
    return {"symbol": symbol, "price": tick.price, "ts": format_ts(tick.ts)}


def error_body(err: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"status": err.status, "message": err.message}
    if err.param is not None:
        body["param"] = err.param
    return {"error": body}
