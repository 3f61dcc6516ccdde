"""Which minutes a backfill must fetch, every one of the range without a candle, and the
candle it writes of a kline."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.sources.backfill import MINUTE, kline_candle, minutes, missing_spans, to_ms
from cryptoflow.sources.binance import Kline

T0 = datetime(2026, 12, 1, 15, 3, tzinfo=UTC)


def at(n: int) -> datetime:
    return T0 + n * MINUTE


def test_holes_in_the_middle_and_before_live_candles_at_the_end() -> None:
    present = [at(n) for n in (*range(30, 60), 118, 119)]
    assert missing_spans(present, at(0), at(120)) == [(at(0), at(30)), (at(60), at(118))]
    assert missing_spans([], at(0), at(3)) == [(at(0), at(3))]
    assert missing_spans([at(n) for n in range(3)], at(0), at(3)) == []
    assert missing_spans([at(-5), at(7)], at(0), at(3)) == [(at(0), at(3))]  # outside


@given(st.sets(st.integers(-10, 130)), st.integers(0, 60), st.integers(1, 70))
def test_the_spans_are_exactly_the_minutes_without_a_candle(
    present: set[int], first: int, length: int,
) -> None:
    start, end = at(first), at(first + length)
    spans = missing_spans([at(n) for n in present], start, end)
    covered = [a + i * MINUTE for a, b in spans for i in range(minutes((a, b)))]
    expected = [at(n) for n in range(first, first + length) if n not in present]
    assert covered == expected
    assert all(a < b for a, b in spans)
    assert all(b < a for (_, b), (a, _) in pairwise(spans))  # never touching
    assert minutes((start, end)) == length


def test_a_backfilled_candle_carries_what_its_kline_carries() -> None:
    kline = Kline(open_time=to_ms(T0), open=100.5, high=101.0, low=99.0, close=100.0,
                  volume=2.5, close_time=to_ms(T0 + MINUTE) - 1, quote_volume=251.25, trades=7,
                  taker_buy_volume=1.5, taker_buy_quote_volume=150.75)
    assert kline_candle("BTCUSDT", kline) == {
        "_id": "BTCUSDT/2026-12-01T15:03:00+00:00", "symbol": "BTCUSDT",
        "start": T0, "end": T0 + MINUTE,
        "open": 100.5, "high": 101.0, "low": 99.0, "close": 100.0,
        "volume": 2.5, "quote_volume": 251.25, "trades": 7,
        "taker_buy_volume": 1.5, "taker_buy_quote_volume": 150.75,
        "count": 7, "mean": None, "stddev": None, "source": "binance-klines",
    }
