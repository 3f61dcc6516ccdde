"""The JSON API's request parsing and response shapes. Pure: views call these.

Every bad request becomes an ``ApiError`` here, so each 4xx answer is decided in
one place and unit-tested without a worker.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptoflow.exceptions import ApiError, InvalidTick
from cryptoflow.records import PriceTick, format_ts, parse_ts
from cryptoflow.tables.series import INTERVALS, Interval
from cryptoflow.tables.stats import RollingStats
from cryptoflow.tables.trade_stats import SpreadStats, TradeStats
from cryptoflow.tables.windows import DEFAULT_WINDOW, WINDOWS, WindowSpec

MAX_PARAM_CHARS = 64


def parse_symbol(raw: str, symbols: Collection[str]) -> str:
    """Case-insensitive in ASCII only: ``str.upper`` maps some other letters to ASCII
    ones (long s, U+017F, -> ``S``), which would make aliases of a symbol."""
    symbol = raw.upper()
    if not raw.isascii() or symbol not in symbols:
        raise ApiError(404, f"unknown symbol {raw[:MAX_PARAM_CHARS]!r}; "
                            f"known: {', '.join(sorted(symbols))}", param="symbol")
    return symbol


def reject_repeated(names: Iterable[str]) -> None:
    """Each query parameter at most once (``names`` with repeats, as in a multidict's items):
    which of two values was meant cannot be told, so a repeated one is a 400 naming it."""
    for name, count in Counter(names).items():
        if count > 1:
            raise ApiError(400, f"{name[:MAX_PARAM_CHARS]} is given {count} times; give it once",
                           param=name[:MAX_PARAM_CHARS])


def parse_window(query: Mapping[str, str]) -> WindowSpec:
    name = query.get("window", DEFAULT_WINDOW)
    if name not in WINDOWS:
        raise ApiError(400, f"window must be one of {', '.join(WINDOWS)}, "
                            f"got {name[:MAX_PARAM_CHARS]!r}", param="window")
    return WINDOWS[name]


def parse_interval(query: Mapping[str, str]) -> Interval:
    """A candle size, ``1m`` (default), ``5m`` or ``1h``."""
    name = query.get("interval", "1m")
    if name not in INTERVALS:
        raise ApiError(400, f"interval must be one of {', '.join(INTERVALS)}, "
                            f"got {name[:MAX_PARAM_CHARS]!r}", param="interval")
    return INTERVALS[name]


def parse_count(query: Mapping[str, str], param: str, default: int, most: int) -> int:
    """A whole number from 1 to ``most`` (``limit``, ``minutes``), in ASCII digits:
    ``str.isdigit`` also takes ``²`` (which ``int`` refuses) and ``٣`` (which it reads
    as 3), and ``int`` refuses more than 4,300 digits, so the length is capped first."""
    raw = query.get(param, str(default))
    if (len(raw) > MAX_PARAM_CHARS or not raw.isascii() or not raw.isdigit()
            or not 1 <= int(raw) <= most):
        raise ApiError(400, f"{param} must be a whole number from 1 to {most}, "
                            f"got {raw[:MAX_PARAM_CHARS]!r}", param=param)
    return int(raw)


def parse_time(query: Mapping[str, str], param: str, now: datetime) -> datetime | None:
    """An ISO-8601 time with a zone (``at``, ``since``), or None when absent. Bounded
    like a tick's ts, so it never reaches faust's window code with a value that hangs
    it (docs/development/local-stack.md)."""
    raw = query.get(param)
    if raw is None:
        return None
    if len(raw) > MAX_PARAM_CHARS:
        raise ApiError(400, f"{param} is too long to be an ISO-8601 time", param=param)
    try:
        return parse_ts(raw.replace(" ", "+"), now)  # a '+' in a query arrives as ' '
    except InvalidTick as err:
        raise ApiError(400, f"{param}: {err.reason}", param=param) from None


def json_safe(value: Any) -> Any:
    """``value`` with every float that is not finite as None: ``Infinity`` and ``NaN``
    are not JSON (browsers' ``JSON.parse`` refuses them), ``null`` is. Every answer of
    the views and every live event passes through this, whatever the stored data hold."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def alert_body(document: Mapping[str, Any]) -> dict[str, Any]:
    return {**document, "from_ts": format_ts(document["from_ts"]), "ts": format_ts(document["ts"])}


def window_stats(
    symbol: str, spec: WindowSpec, at: datetime, ticks: RollingStats,
    trades: TradeStats | None = None, book: SpreadStats | None = None,
) -> dict[str, Any]:
    """The body of ``/api/stats/{symbol}/``: the window holding ``at`` and its fields
    (``window_fields``)."""
    start, end = spec.bounds(at)
    return {
        "symbol": symbol,
        "window": {"size": spec.name, "start": format_ts(start), "end": format_ts(end)},
        **window_fields(ticks, trades, book),
    }


def window_fields(
    ticks: RollingStats, trades: TradeStats | None = None, book: SpreadStats | None = None,
) -> dict[str, Any]:
    """One window's statistics, as ``/api/stats/`` and the live feed's ``stats`` events
    serve them: the one place that decides where the prices come from.

    ``count``, ``min``, ``max``, ``mean``, ``stddev``, ``open``, ``close``,
    ``change_pct``, ``first_ts`` and ``last_ts`` come from the window's trades when it
    has trades with price statistics (``count``: aggregate trades; ``price_source``
    ``"trades"``), else from its price ticks (``"ticks"``): a symbol's streamed trades
    are every trade, its ticks a 3-second sample of the last price, and the volumes
    beside them come from the trades, so one window's numbers agree. ``trades``
    (``TradeStats``, None without streams) adds the volumes, vwap and raw ``trades``;
    ``book`` the latest bid/ask and the spread (zeros and nulls for a window without
    them)."""
    prices = trades.price_summary() if trades is not None else None
    fields = ({**prices, "price_source": "trades"} if prices is not None
              else {**ticks.summary(), "price_source": "ticks"})
    if trades is not None:
        fields.update(trades.summary())
    if book is not None:
        fields.update(book.summary())
    return fields


def latest_price(symbol: str, tick: PriceTick | None) -> dict[str, Any]:
    if tick is None:
        return {"symbol": symbol, "price": None, "ts": None}
    return {"symbol": symbol, "price": tick.price, "ts": format_ts(tick.ts)}


def error_body(err: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"status": err.status, "message": err.message}
    if err.param is not None:
        body["param"] = err.param
    return {"error": body}


def poll_health(
    interval: float, is_leader: bool, last_success: datetime | None, failing: str | None,
    started: datetime, now: datetime,
) -> tuple[bool, str]:
    """Healthy unless this worker polls and its last good poll is 3 intervals old."""
    if interval == 0:
        return True, "poller disabled (CRYPTOFLOW_POLL_INTERVAL=0)"
    if not is_leader:
        return True, "not the leader; another worker polls"
    since = last_success or started
    age = (now - since).total_seconds()
    if age > 3 * interval:
        why = f" ({failing})" if failing else ""
        return False, f"no successful poll for {age:.1f}s{why}"
    return True, f"last successful poll {age:.1f}s ago"


def exchange_source(
    base_url: str, simulated: bool | None, unreachable: datetime | None = None,
) -> dict[str, Any]:
    """Where this worker's prices come from, for the dashboard's header: the host of
    the configured exchange URL, whether it is the simulated exchange (None until it
    first answered; a worker that does not poll never knows), and since when it has been
    unreachable (``unreachable_since``; None while it answers)."""
    return {"host": urlsplit(base_url).netloc.rpartition("@")[2], "simulated": simulated,
            "unreachable_since": format_ts(unreachable) if unreachable else None}


def unreachable_since(failing_since: Sequence[datetime | None]) -> datetime | None:
    """When the exchange became unreachable for this worker: each of the ways it reads
    from it (the poll, the streams) failing since then (None: that way works). None
    while one works, or when it reads from none."""
    if not failing_since or any(since is None for since in failing_since):
        return None
    return max(since for since in failing_since if since is not None)


def health_body(checks: Mapping[str, tuple[bool, str]]) -> tuple[int, dict[str, Any]]:
    """200 when every check passes, else 503 naming the failing parts; its status is
    ``starting`` while the ``worker`` check says it is not ready yet."""
    failing = [name for name, (ok, _) in checks.items() if not ok]
    status = "starting" if "worker" in failing else "failing" if failing else "ok"
    body = {
        "status": status,
        "failing": failing,
        "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
    }
    return (503 if failing else 200), body
