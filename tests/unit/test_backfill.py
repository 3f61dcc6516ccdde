"""Which minutes a backfill must fetch, every one of the range without a candle, and the
candle it writes of a kline; the hour windows a trades backfill asks for; what the
command's first arguments mean (candles, trades, or the old spelling's symbol)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.commands.backfill import backfill
from cryptoflow.sources.backfill import (
    MINUTE,
    TradeBackfill,
    _trades,
    hour_windows,
    kline_candle,
    minutes,
    missing_spans,
    to_ms,
)
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


def test_the_hour_windows_of_a_range_are_cut_at_utc_hours() -> None:
    hour = datetime(2026, 12, 1, 15, tzinfo=UTC)  # at(0) is 15:03, at(57) 16:00
    assert hour_windows(at(0), at(100)) == [(at(0), at(57)), (at(57), at(100))]
    assert hour_windows(hour, hour + 120 * MINUTE) == [
        (hour, hour + 60 * MINUTE), (hour + 60 * MINUTE, hour + 120 * MINUTE)]
    assert hour_windows(at(1), at(2)) == [(at(1), at(2))]
    assert hour_windows(at(2), at(2)) == []


@given(st.integers(0, 200), st.integers(1, 400))
def test_the_windows_tile_the_range_each_within_one_hour(first: int, length: int) -> None:
    windows = hour_windows(at(first), at(first + length))
    assert windows[0][0] == at(first) and windows[-1][1] == at(first + length)
    assert all(a[1] == b[0] for a, b in pairwise(windows))
    assert all(start < end and end - start <= 60 * MINUTE for start, end in windows)
    assert all(start.replace(minute=0) == (end - MINUTE).replace(minute=0)
               for start, end in windows)
    assert all(end.minute == 0 for _, end in windows[:-1])


def agg_trade(trade_id: int, **fields: Any) -> dict[str, Any]:
    return {"a": trade_id, "p": "100.50000000", "q": "0.10000000", "f": trade_id * 2,
            "l": trade_id * 2 + 1, "T": to_ms(T0), "m": False, "M": True, **fields}


def test_a_page_is_checked_item_by_item_and_put_in_id_order() -> None:
    done = TradeBackfill(hours=1)
    page = [agg_trade(5), agg_trade(6, p="0.00000000", q="0.00000000", f=-1, l=-1),
            agg_trade(7, p="abc"), agg_trade(4), {"p": "1"}]
    trades, last_id = _trades("BTCUSDT", page, done)
    assert [(trade.trade_id, trade.invalid) for trade in trades] == [
        (4, False), (5, False), (6, True)]  # marked invalid by Binance: kept, flagged
    assert (last_id, done.unreadable) == (7, [7])  # the next page starts after 7
    assert _trades("BTCUSDT", [{"p": "1"}], done) == ([], None)


def parsed(*args: str) -> tuple[str, str]:
    cli = backfill.as_click_command()
    assert isinstance(cli, click.Command)
    params = cli.make_context("backfill", [*args, "--since", "2026-12-01"]).params
    return params["kind"], params["symbol"]


def test_the_first_argument_is_candles_trades_or_the_old_spellings_symbol() -> None:
    assert parsed("candles", "BTCUSDT") == ("candles", "BTCUSDT")
    assert parsed("trades", "ethusdt") == ("trades", "ETHUSDT")
    assert parsed("Trades", "SOLUSDT") == ("trades", "SOLUSDT")
    assert parsed("btcusdt") == ("candles", "BTCUSDT")  # backfill SYMBOL, as before


@pytest.mark.parametrize(("args", "says"), [
    (("trades",), "Missing argument 'SYMBOL' (BTCUSDT, ETHUSDT, SOLUSDT)"),
    (("trades", "DOGEUSDT"), "DOGEUSDT is not a configured symbol (BTCUSDT, ETHUSDT, SOLUSDT)"),
    (("DOGEUSDT",), "DOGEUSDT is not a configured symbol (BTCUSDT, ETHUSDT, SOLUSDT)"),
    (("trade", "BTCUSDT"), "'trade' is not candles or trades: backfill [candles|trades] SYMBOL"),
])
def test_a_wrong_first_or_second_argument_is_a_usage_error(
    args: tuple[str, ...], says: str,
) -> None:
    with pytest.raises(click.UsageError) as raised:
        parsed(*args)
    assert says in raised.value.format_message()
