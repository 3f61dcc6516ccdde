"""Candles: OHLC by event time, count, mean and population stddev."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import PriceTick
from cryptoflow.tables.candles import candle, roll_up

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=1)


def test_a_candle_follows_event_time() -> None:
    prices = {5: 101.0, 1: 100.0, 30: 99.0, 59: 103.0, 20: 104.5}  # second -> price
    ticks = [PriceTick(symbol="ETHUSDT", price=p, ts=START + timedelta(seconds=s))
             for s, p in prices.items()]
    doc = candle("ETHUSDT", START, END, ticks)
    assert doc is not None
    assert doc["_id"] == "ETHUSDT/2026-11-24T12:00:00+00:00"
    assert (doc["open"], doc["high"], doc["low"], doc["close"]) == (100.0, 104.5, 99.0, 103.0)
    assert doc["count"] == 5
    assert doc["mean"] == pytest.approx(statistics.fmean(prices.values()))
    assert doc["stddev"] == pytest.approx(statistics.pstdev(prices.values()))
    assert (doc["start"], doc["end"]) == (START, END)


def test_no_ticks_no_candle() -> None:
    assert candle("ETHUSDT", START, END, []) is None


@given(st.lists(st.lists(st.floats(1, 1e6), min_size=1, max_size=20), min_size=1, max_size=60))
def test_an_hour_rolled_up_from_minutes_equals_one_candle_of_all_ticks(
    minutes: list[list[float]],
) -> None:
    ticks_by_minute = [
        [PriceTick(symbol="BTCUSDT", price=p, ts=START + timedelta(minutes=m, seconds=i))
         for i, p in enumerate(prices)]
        for m, prices in enumerate(minutes)
    ]
    parts = [candle("BTCUSDT", START + timedelta(minutes=m), START + timedelta(minutes=m + 1), t)
             for m, t in enumerate(ticks_by_minute)]
    hour = roll_up("BTCUSDT", START, START + timedelta(hours=1), [p for p in parts if p])
    everything = candle("BTCUSDT", START, START + timedelta(hours=1),
                        [t for ticks in ticks_by_minute for t in ticks])
    assert hour is not None and everything is not None
    for field in ("open", "high", "low", "close", "count", "_id"):
        assert hour[field] == everything[field]
    assert hour["mean"] == pytest.approx(everything["mean"], rel=1e-9)
    assert hour["stddev"] == pytest.approx(everything["stddev"], rel=1e-6, abs=1e-6)


def test_minutes_without_mean_and_stddev_roll_up_without_them() -> None:
    """Backfilled klines carry no mean or stddev (Binance gives none): the roll-up of a
    span holding one has none either, and the OHLC and count still add up."""
    ticks = [PriceTick(symbol="BTCUSDT", price=p, ts=START + timedelta(seconds=i))
             for i, p in enumerate([100.0, 102.0])]
    built = candle("BTCUSDT", START, END, ticks)
    assert built is not None
    kline = {"symbol": "BTCUSDT", "start": END, "end": END + timedelta(minutes=1),
             "open": 102.5, "high": 110.0, "low": 95.0, "close": 96.0, "count": 40,
             "mean": None, "stddev": None, "source": "binance-klines"}
    doc = roll_up("BTCUSDT", START, START + timedelta(minutes=5), [built, kline])
    assert doc is not None
    assert (doc["open"], doc["high"], doc["low"], doc["close"], doc["count"]) == (
        100.0, 110.0, 95.0, 96.0, 42)
    assert (doc["mean"], doc["stddev"]) == (None, None)
