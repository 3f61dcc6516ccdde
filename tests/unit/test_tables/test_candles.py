"""Candles: OHLC by event time, count, mean and population stddev; hours from minutes of
ticks, of klines, of trades and of a mix."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from itertools import groupby

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import PriceTick
from cryptoflow.sources.backfill import kline_candle
from cryptoflow.sources.binance import Kline
from cryptoflow.tables.candles import candle, roll_up
from cryptoflow.tables.trade_candles import candle_document, fold_trades
from tests.unit.test_tables.trade_histories import HOUR_MS, Drawn, direct, histories

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
    assert hour.keys() == everything.keys()
    for field in ("open", "high", "low", "close", "count", "_id"):
        assert hour[field] == everything[field]
    assert hour["mean"] == pytest.approx(everything["mean"], rel=1e-9)
    assert hour["stddev"] == pytest.approx(everything["stddev"], rel=1e-6, abs=1e-6)


def trade_candles(history: list[Drawn]) -> list[dict[str, object]]:
    state, closed, _ = fold_trades(None, [d.trade for d in history])
    assert state is not None
    return [candle_document("BTCUSDT", c) for c in [*closed, state]]


@given(histories(most=80))
def test_hours_rolled_up_from_trade_minutes_equal_the_hourly_klines(history: list[Drawn]) -> None:
    minutes = trade_candles(history)
    hours = []
    for hour_index, parts in groupby(minutes, key=lambda m: int(m["start"].timestamp()) // 3600):
        start = datetime.fromtimestamp(hour_index * 3600, tz=UTC)
        hours.append(roll_up("BTCUSDT", start, start + timedelta(hours=1), list(parts)))
    # roll_up does not add up the minutes' taker buy volumes: the hour has none
    klines = [{k: v for k, v in kline.items() if not k.startswith("taker_buy_")}
              for kline in direct(history, HOUR_MS)]
    assert [h.keys() for h in hours if h] == [k.keys() for k in klines]
    for hour, kline in zip(hours, klines, strict=True):
        assert hour is not None
        # a minute's quote volume was rounded once to a float; the hour adds those exactly
        assert math.isclose(hour.pop("quote_volume"), kline.pop("quote_volume"), rel_tol=1e-14)
        assert hour == kline  # volume exactly: a minute's volume is a float of its decimal


def kline_at(minute: int, ohlc: tuple[float, float, float, float], trades: int) -> Kline:
    """The kline of minute ``minute`` of the hour: one unit traded at its open, half of it
    bought by the taker."""
    open_ms = int((START + timedelta(minutes=minute)).timestamp() * 1000)
    return Kline(open_ms, *ohlc, volume=1.0, close_time=open_ms + 59_999,
                 quote_volume=ohlc[0], trades=trades, taker_buy_volume=0.5,
                 taker_buy_quote_volume=ohlc[0] / 2)


def test_an_hour_of_backfilled_klines_adds_up_their_trade_counts() -> None:
    klines = [kline_candle("BTCUSDT", kline_at(m, (10.0 + m, 12.0 + m, 9.0 - m, 11.0 + m),
                                               5 * m + 1))
              for m in range(3)]
    hour = roll_up("BTCUSDT", START, START + timedelta(hours=1), klines)
    assert hour is not None
    assert (hour["open"], hour["high"], hour["low"], hour["close"]) == (10.0, 14.0, 7.0, 13.0)
    assert (hour["count"], hour["mean"], hour["stddev"]) == (1 + 6 + 11, None, None)
    assert hour["source"] == "binance-klines"


def test_a_mixed_hour_keeps_what_every_minute_knows_and_says_what_it_mixed() -> None:
    ticks = candle("BTCUSDT", START, START + timedelta(minutes=1),
                   [PriceTick(symbol="BTCUSDT", price=p, ts=START + timedelta(seconds=s))
                    for s, p in ((1, 100.0), (30, 90.0))])
    kline = kline_candle("BTCUSDT", kline_at(1, (95.0, 120.0, 94.0, 96.0), 40))
    trade = {"_id": "x", "start": START + timedelta(minutes=2), "open": 96.0, "high": 97.0,
             "low": 80.0, "close": 81.0, "volume": 2.5, "quote_volume": 230.0, "trades": 7,
             "agg_trades": 3, "first_trade_id": 10, "last_trade_id": 12, "source": "trades"}
    assert ticks is not None
    hour = roll_up("BTCUSDT", START, START + timedelta(hours=1), [ticks, kline, trade])
    assert hour is not None
    assert (hour["open"], hour["high"], hour["low"], hour["close"]) == (100.0, 120.0, 80.0, 81.0)
    assert hour["source"] == "mixed"
    assert hour["minutes"] == {"ticks": 1, "binance-klines": 1, "trades": 1}
    # the ticks' minute did not count trades, and no minute but the trades' knows volume
    assert (hour["trades"], hour["volume"], hour["quote_volume"]) == (None, None, None)
    assert "mean" not in hour and "count" not in hour
    later = roll_up("BTCUSDT", START, START + timedelta(hours=1), [kline, trade])
    assert later is not None
    assert (later["trades"], later["volume"], later["minutes"]) == (
        47, None, {"binance-klines": 1, "trades": 1})
