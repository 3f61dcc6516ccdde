"""Trade histories as Binance makes them, and the klines Binance computes from them."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from cryptoflow.records import Trade
from cryptoflow.tables.trade_stats import TradeStats

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
SYMBOL = "BTCUSDT"
MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def redelivered_batches(data: st.DataObject, count: int) -> Iterator[slice]:
    """Batches over ``count`` records in stream order as at-least-once delivery hands
    them on: each reaches past the one before and may start again anywhere before that
    one's end (a redelivered tail, a record streamed and re-fetched)."""
    done = 0
    while done < count:
        begin = data.draw(st.integers(0, done))
        end = data.draw(st.integers(done + 1, count))
        yield slice(begin, end)
        done = end


@dataclass(frozen=True)
class Drawn:
    """A trade as Binance sends it: price and qty decimals of 8 places (here as integers
    of 1e-8), so the oracle below adds them exactly without our code's help."""

    price_e8: int
    qty_e8: int
    trade: Trade


@st.composite
def histories(draw: st.DrawFn, most: int = 40) -> list[Drawn]:
    """One symbol's trades: consecutive ids, times that never decrease, several trades in
    one millisecond, quiet stretches longer than a minute, trades right on a boundary."""
    count = draw(st.integers(1, most))
    trade_id, first, time_ms = draw(st.integers(0, 10**9)), draw(st.integers(0, 10**9)), T0_MS
    drawn = []
    for _ in range(count):
        time_ms += draw(st.one_of(st.just(0), st.integers(1, 30_000),
                                  st.just(MINUTE_MS - time_ms % MINUTE_MS),
                                  st.integers(MINUTE_MS + 1, 200_000)))
        price_e8 = draw(st.integers(1, 10**14))
        qty_e8 = draw(st.integers(1, 10**11))
        raw = draw(st.integers(1, 5))
        drawn.append(Drawn(price_e8, qty_e8, Trade(
            symbol=SYMBOL, trade_id=trade_id, price=price_e8 / 10**8, qty=qty_e8 / 10**8,
            first_trade_id=first, last_trade_id=first + raw - 1, time_ms=time_ms,
            is_buyer_maker=draw(st.booleans()),
        )))
        trade_id, first = trade_id + 1, first + raw
    return drawn


def direct(history: list[Drawn], size_ms: int = MINUTE_MS) -> list[dict[str, object]]:
    """The kline of every minute (or hour) that has trades, computed as Binance does."""
    by_start: dict[int, list[Drawn]] = defaultdict(list)
    for d in history:
        by_start[d.trade.time_ms // size_ms * size_ms].append(d)
    klines = []
    for start_ms, part in sorted(by_start.items()):
        start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
        prices = [d.trade.price for d in part]
        bought = [d for d in part if not d.trade.is_buyer_maker]  # the taker bought
        klines.append({
            "_id": f"{SYMBOL}/{start.isoformat()}", "symbol": SYMBOL,
            "start": start, "end": start + timedelta(milliseconds=size_ms),
            "open": prices[0], "high": max(prices), "low": min(prices), "close": prices[-1],
            "volume": float(Decimal(sum(d.qty_e8 for d in part)).scaleb(-8)),
            "quote_volume": float(Decimal(sum(d.price_e8 * d.qty_e8 for d in part)).scaleb(-16)),
            "taker_buy_volume": float(Decimal(sum(d.qty_e8 for d in bought)).scaleb(-8)),
            "taker_buy_quote_volume": float(
                Decimal(sum(d.price_e8 * d.qty_e8 for d in bought)).scaleb(-16)),
            "trades": sum(d.trade.last_trade_id - d.trade.first_trade_id + 1 for d in part),
            "agg_trades": len(part),
            "first_trade_id": part[0].trade.trade_id, "last_trade_id": part[-1].trade.trade_id,
            "source": "trades",
        })
    return klines


def assert_same_trades(merged: TradeStats, direct: TradeStats) -> None:
    """Equal, but for the mean and M2 (floats summed in another order): within float
    tolerance on the scale of the prices, as the API serves them (mean, stddev)."""
    floats = ("mean", "m2")
    assert merged.derive(mean=None, m2=None) == direct.derive(mean=None, m2=None)
    if direct.agg_trades:
        scale = max(abs(direct.high or 0.0), abs(direct.low or 0.0))
        ours, theirs = merged.price_summary(), direct.price_summary()
        assert ours is not None and theirs is not None
        for name in ("mean", "stddev"):
            assert math.isclose(ours[name], theirs[name], rel_tol=1e-9, abs_tol=1e-9 * scale)
    else:
        assert all(getattr(merged, name) is None for name in floats)
