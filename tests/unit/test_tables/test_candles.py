"""Candles: OHLC by event time, count, mean and population stddev."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow.records import PriceTick
from cryptoflow.tables.candles import candle

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
