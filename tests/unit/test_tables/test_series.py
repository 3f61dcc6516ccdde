"""Candle series: slots, ticks into minutes, minutes into 5-minute candles, the public shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import PriceTick
from cryptoflow.tables.candles import candle
from cryptoflow.tables.series import (
    CANDLE_COLUMNS,
    INTERVALS,
    MINUTE,
    before,
    ceil_to,
    floor_to,
    minute_candles,
    public_candle,
    rolled_up,
    tick_candles_start,
)

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FIVE = INTERVALS["5m"].size
moments = st.datetimes(  # hypothesis takes naive bounds and adds the zone itself
    min_value=datetime(2017, 1, 1),  # noqa: DTZ001
    max_value=datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC))


@given(moments, st.sampled_from([interval.size for interval in INTERVALS.values()]))
def test_slots_are_counted_from_the_epoch(moment: datetime, size: timedelta) -> None:
    floor, ceil = floor_to(moment, size), ceil_to(moment, size)
    assert floor <= moment < floor + size
    assert ceil - size < moment <= ceil
    assert (floor - datetime(1970, 1, 1, tzinfo=UTC)) % size == timedelta(0)
    assert ceil == (floor if floor == moment else floor + size)


def test_five_minute_slots_start_on_the_clock() -> None:
    assert floor_to(START + timedelta(minutes=7, seconds=59), FIVE) == START + timedelta(minutes=5)
    assert ceil_to(START + timedelta(minutes=5), FIVE) == START + timedelta(minutes=5)
    assert ceil_to(START + timedelta(minutes=5, milliseconds=1), FIVE) == START + timedelta(
        minutes=10)


def ticks_of(prices: list[tuple[int, float]]) -> list[dict[str, Any]]:
    """(seconds after START, price) as stored tick documents, in the given order."""
    return [{"price": price, "ts": START + timedelta(seconds=s)} for s, price in prices]


def test_ticks_make_one_candle_per_minute_with_ticks_oldest_first() -> None:
    docs = ticks_of([(130, 7.0), (5, 1.0), (59, 3.0), (0, 2.0), (125, 6.0)])  # minutes 0 and 2
    candles = minute_candles("BTCUSDT", docs)
    assert [c["start"] for c in candles] == [START, START + 2 * MINUTE]
    assert (candles[0]["open"], candles[0]["close"], candles[0]["count"]) == (2.0, 3.0, 3)
    assert (candles[1]["open"], candles[1]["close"], candles[1]["count"]) == (6.0, 7.0, 2)
    assert candles[1]["end"] == START + 3 * MINUTE


@given(st.lists(st.tuples(st.integers(0, 30 * 60 - 1), st.floats(1, 1e6)), min_size=1,
                max_size=200, unique_by=lambda t: t[0]))
def test_five_minute_candles_rolled_from_minutes_equal_candles_of_their_ticks(
    prices: list[tuple[int, float]],
) -> None:
    docs = ticks_of(prices)
    rolled = rolled_up("BTCUSDT", minute_candles("BTCUSDT", docs), FIVE)
    direct = []
    for slot in sorted({floor_to(d["ts"], FIVE) for d in docs}):
        ticks = [PriceTick(symbol="BTCUSDT", price=d["price"], ts=d["ts"])
                 for d in docs if floor_to(d["ts"], FIVE) == slot]
        direct.append(candle("BTCUSDT", slot, slot + FIVE, ticks))
    assert len(rolled) == len(direct)
    for got, want in zip(rolled, direct, strict=True):
        assert want is not None
        for field in ("_id", "start", "end", "open", "high", "low", "close", "count"):
            assert got[field] == want[field]
        assert got["mean"] == pytest.approx(want["mean"], rel=1e-9)
        assert got["stddev"] == pytest.approx(want["stddev"], rel=1e-6, abs=1e-6)


@given(st.lists(st.tuples(st.integers(0, 59), st.sampled_from([None, "trades", "binance-klines"])),
                max_size=60, unique_by=lambda t: t[0]))
def test_the_tick_candle_job_starts_after_every_better_candle_and_skips_no_minute(
    stored_minutes: list[tuple[int, str | None]],
) -> None:
    stored = [{"start": START + minute * MINUTE} | ({"source": source} if source else {})
              for minute, source in stored_minutes]  # in any order
    start = tick_candles_start(stored, START)
    assert start >= START
    # Built over, at most: the newest candle, a tick one, redone from its ticks.
    at_or_after = [doc for doc in stored if doc["start"] >= start]
    assert all("source" not in doc and doc["start"] == start for doc in at_or_after)
    # No minute after the newest stored candle is left out, nor a newest tick candle.
    if stored:
        newest = max(stored, key=lambda doc: doc["start"])
        assert start <= newest["start"] + (MINUTE if "source" in newest else timedelta(0))
    else:
        assert start == START


def test_before_keeps_the_candles_starting_before_the_cut() -> None:
    candles = minute_candles("BTCUSDT", ticks_of([(0, 1.0), (60, 2.0), (120, 3.0)]))
    assert [c["close"] for c in before(candles, START + 2 * MINUTE)] == [1.0, 2.0]
    assert before(candles, START) == []


def test_the_public_candle_has_what_is_known_and_whether_it_is_closed() -> None:
    (tick_candle,) = minute_candles("BTCUSDT", ticks_of([(1, 10.0), (2, 12.0)]))
    row = public_candle(tick_candle, now=START + MINUTE)
    assert row == {"start": "2026-11-24T12:00:00.000Z", "open": 10.0, "high": 12.0, "low": 10.0,
                   "close": 12.0, "count": 2, "closed": True}
    assert public_candle(tick_candle, now=START + MINUTE - timedelta(milliseconds=1))[
        "closed"] is False
    kline = {**tick_candle, "mean": None, "stddev": None, "count": 40, "source": "binance-klines",
             "volume": 1.5, "quote_volume": 99.0, "taker_buy_volume": 0.5,
             "taker_buy_quote_volume": 33.5, "trades": 40}
    assert list(public_candle(kline, START + MINUTE)) == list(CANDLE_COLUMNS)
    unknown_taker_side = {**kline, "taker_buy_volume": None, "taker_buy_quote_volume": None}
    assert "taker_buy_volume" not in public_candle(unknown_taker_side, START + MINUTE)
