"""OHLC candles: from the ticks of one closed minute, and hours from minutes. Pure.

A minute's candle comes from one of three sources, named by its ``source``: the polled
ticks (no ``source``; ``count``/``mean``/``stddev`` of the tick prices), Binance's klines
(``binance-klines``, the backfill; ``count`` = raw trades) or the streamed trades
(``trades``, tables/trade_candles.py; volume, quote volume, trades). All share the
``_id`` scheme, so a better source's candle of a minute replaces another's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptoflow.records import PriceTick
from cryptoflow.tables.exact import exact_sum
from cryptoflow.tables.stats import RollingStats

TICKS = "ticks"  # the source of a candle without one
KLINES = "binance-klines"
TRADES = "trades"
MIXED = "mixed"


def candle_id(symbol: str, start: datetime) -> str:
    """``BTCUSDT/2026-11-24T22:37:00+00:00``: symbol + start, so writing a candle of the
    same minute again replaces it, never duplicates."""
    return f"{symbol}/{start.isoformat()}"


def candle(
    symbol: str, start: datetime, end: datetime, ticks: Sequence[PriceTick],
) -> dict[str, Any] | None:
    """The candle document of ``ticks`` (all within [start, end)); None without ticks."""
    if not ticks:
        return None
    stats = RollingStats.of(ticks)
    return {
        "_id": candle_id(symbol, start),
        "symbol": symbol, "start": start, "end": end,
        "open": stats.open, "high": stats.high, "low": stats.low, "close": stats.close,
        "count": stats.count, "mean": stats.mean, "stddev": stats.stddev,
    }


def roll_up(
    symbol: str, start: datetime, end: datetime, minutes: Sequence[Mapping[str, Any]],
) -> dict[str, Any] | None:
    """One candle of [start, end) from the smaller candles inside it, oldest first.

    OHLC always. The rest as the parts' source allows: ticks' mean and stddev combine
    exactly (Chan et al.'s parallel variance), not averaged; klines' trade counts add up;
    trades' volumes add up exactly (tables/exact.py) and the trade ids span first to last.
    Parts of different sources (``source: "mixed"``, with ``minutes`` per source) give
    ``trades`` when every part counted them (klines and trades) and ``None`` for what some
    part does not know (volume, quote volume; ``trades`` with a tick minute): a sum over
    some minutes would pass for the hour's. No tick statistics: they would describe only
    the tick minutes."""
    if not minutes:
        return None
    doc = {
        "_id": candle_id(symbol, start),
        "symbol": symbol, "start": start, "end": end,
        "open": minutes[0]["open"], "high": max(m["high"] for m in minutes),
        "low": min(m["low"] for m in minutes), "close": minutes[-1]["close"],
    }
    sources = Counter(part.get("source", TICKS) for part in minutes)
    if sources.keys() == {TICKS}:
        return {**doc, **_tick_statistics(minutes)}
    if sources.keys() == {KLINES}:
        return {**doc, "count": sum(m["count"] for m in minutes), "mean": None, "stddev": None,
                "source": KLINES}
    if sources.keys() == {TRADES}:
        return {
            **doc,
            "volume": exact_sum(m["volume"] for m in minutes),
            "quote_volume": exact_sum(m["quote_volume"] for m in minutes),
            "trades": sum(m["trades"] for m in minutes),
            "agg_trades": sum(m["agg_trades"] for m in minutes),
            "first_trade_id": minutes[0]["first_trade_id"],
            "last_trade_id": minutes[-1]["last_trade_id"],
            "source": TRADES,
        }
    counted = [_raw_trades(part) for part in minutes]
    return {
        **doc,
        "volume": None, "quote_volume": None,
        "trades": None if None in counted else sum(n for n in counted if n is not None),
        "source": MIXED, "minutes": dict(sources),
    }


def _tick_statistics(minutes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    count, mean, m2 = 0, 0.0, 0.0
    for part in minutes:
        n, part_mean, part_m2 = part["count"], part["mean"], part["stddev"] ** 2 * part["count"]
        delta = part_mean - mean
        total = count + n
        mean += delta * n / total
        m2 += part_m2 + delta * delta * count * n / total
        count = total
    return {"count": count, "mean": mean, "stddev": math.sqrt(max(0.0, m2 / count))}


def _raw_trades(part: Mapping[str, Any]) -> int | None:
    """How many raw trades a minute had, where its source counted them."""
    source = part.get("source", TICKS)
    raw: int | None = part["trades"] if source == TRADES else (
        part["count"] if source == KLINES else None)
    return raw
