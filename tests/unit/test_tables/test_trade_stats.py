"""Window statistics of trades and book tickers: merging equals computing over all of
them, whatever the batches, and a redelivered batch counts once."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import BookTicker, Trade, format_ts, spread_bps
from cryptoflow.tables.trade_stats import SpreadStats, TradeStats
from tests.unit.test_tables.trade_histories import (
    SYMBOL,
    T0_MS,
    Drawn,
    assert_same_trades,
    histories,
    redelivered_batches,
)


def trades_of(history: list[Drawn]) -> list[Trade]:
    return [d.trade for d in history]


def exactly(units_e8: int) -> float:
    return float(Decimal(units_e8).scaleb(-8))


def assert_prices_of(stats: TradeStats, trades: list[Trade]) -> None:
    """The price statistics served equal a direct computation over ``trades``."""
    prices = [trade.price for trade in trades]
    summary = stats.price_summary()
    assert summary is not None
    assert (summary["count"], summary["min"], summary["max"]) == (
        len(trades), min(prices), max(prices))
    assert (summary["open"], summary["close"]) == (prices[0], prices[-1])
    assert (summary["first_ts"], summary["last_ts"]) == (
        format_ts(trades[0].ts), format_ts(trades[-1].ts))
    scale = max(prices)
    assert math.isclose(summary["mean"], statistics.fmean(prices), rel_tol=1e-9,
                        abs_tol=1e-9 * scale)
    assert math.isclose(summary["stddev"], statistics.pstdev(prices), rel_tol=1e-9,
                        abs_tol=1e-9 * scale)
    assert math.isclose(summary["change_pct"], (prices[-1] - prices[0]) / prices[0] * 100,
                        rel_tol=1e-9, abs_tol=1e-9)


@given(histories(), st.data())
def test_merging_parts_equals_the_statistics_of_all_and_is_associative(
    history: list[Drawn], data: st.DataObject,
) -> None:
    trades = trades_of(history)
    a, b = sorted(data.draw(st.lists(st.integers(0, len(trades)), min_size=2, max_size=2)))
    first, second, third = (TradeStats.of(part) for part in (trades[:a], trades[a:b], trades[b:]))
    everything = TradeStats.of(trades)
    assert_same_trades((first + second) + third, everything)
    assert_same_trades(first + (second + third), everything)
    assert_same_trades(third + (second + first), everything)  # by id, not place
    assert_prices_of(everything, trades)


@given(histories(), st.data())
def test_a_window_updated_batch_by_batch_with_redeliveries_counts_every_trade_once(
    history: list[Drawn], data: st.DataObject,
) -> None:
    """As the agent does it: ``table[symbol] += TradeStats.of(part, after_id=...)``, each
    batch possibly starting again before the last one ended, the value through JSON."""
    trades = trades_of(history)
    window = TradeStats()
    for batch in redelivered_batches(data, len(trades)):
        window = TradeStats.loads(
            (window + TradeStats.of(trades[batch], after_id=window.last_trade_id)).dumps())
    assert_same_trades(window, TradeStats.of(trades))
    assert window.last_trade_id == trades[-1].trade_id
    assert_prices_of(window, trades)


@given(histories())
def test_volumes_split_by_taker_side_and_vwap_lies_within_the_prices(history: list[Drawn]) -> None:
    summary = TradeStats.of(trades_of(history)).summary()
    sold = [d for d in history if d.trade.is_buyer_maker]  # the buyer's order rested
    bought = [d for d in history if not d.trade.is_buyer_maker]
    assert summary["volume"] == exactly(sum(d.qty_e8 for d in history))
    assert summary["sell_volume"] == exactly(sum(d.qty_e8 for d in sold))
    assert summary["buy_volume"] == exactly(sum(d.qty_e8 for d in bought))
    assert summary["quote_volume"] == float(
        Decimal(sum(d.price_e8 * d.qty_e8 for d in history)).scaleb(-16))
    assert summary["trades"] == sum(d.trade.raw_trades for d in history)
    prices = [d.trade.price for d in history]
    assert min(prices) <= summary["vwap"] <= max(prices)


def test_an_empty_window_has_zero_volume_and_no_vwap() -> None:
    empty = TradeStats.of([])
    assert empty.last_trade_id == -1
    assert empty.summary() == {"volume": 0.0, "quote_volume": 0.0, "vwap": None, "trades": 0,
                               "buy_volume": 0.0, "sell_volume": 0.0}
    assert TradeStats.loads(empty.dumps()) == empty == TradeStats()
    assert empty.prices is None and empty.price_summary() is None
    assert b"Infinity" not in empty.dumps() and b"NaN" not in empty.dumps()


def trade(trade_id: int, price: float, ms: int = 0) -> Trade:
    return Trade(symbol=SYMBOL, trade_id=trade_id, price=price, qty=0.5,
                 first_trade_id=trade_id, last_trade_id=trade_id, time_ms=T0_MS + ms,
                 is_buyer_maker=False)


def test_the_price_statistics_of_a_window_of_trades() -> None:
    stats = TradeStats.of([trade(7, 100.0), trade(8, 130.0, 5), trade(9, 110.0, 1500)])
    summary = stats.price_summary()
    assert summary is not None
    assert summary == {
        "count": 3, "min": 100.0, "max": 130.0, "mean": pytest.approx(340 / 3),
        "stddev": pytest.approx(math.sqrt(1400 / 9)),  # M2 = 4200/9 over 3 trades
        "open": 100.0, "close": 110.0, "change_pct": pytest.approx(10.0),
        "first_ts": "2026-11-24T12:00:00.000Z", "last_ts": "2026-11-24T12:00:01.500Z",
    }


# A window's value as the worker wrote it before TradeStats held prices.
OLD_VALUE = (b'{"agg_trades":2,"trades":2,"buy_volume":"0.5","sell_volume":"0.5",'
             b'"quote_volume":"107.50","last_trade_id":8}')


def test_a_value_from_before_the_prices_loads_without_price_statistics_and_keeps_none() -> None:
    old = TradeStats.loads(OLD_VALUE)
    assert (old.agg_trades, old.volume, old.last_trade_id) == (2, Decimal("1.0"), 8)
    assert old.prices is None and old.price_summary() is None
    later = TradeStats.of([trade(9, 120.0), trade(10, 90.0)], after_id=old.last_trade_id)
    merged = TradeStats.loads((old + later).dumps())
    assert (merged.agg_trades, merged.last_trade_id) == (4, 10)
    # two of four trades' prices would pass for the window's: none, as before the change
    assert merged.prices is None and (later + old).prices is None
    assert (old + TradeStats()).prices is None and (TradeStats() + old).prices is None


def test_trades_not_above_after_id_are_not_counted() -> None:
    trades = [Trade(symbol=SYMBOL, trade_id=i, price=10.0, qty=0.1, first_trade_id=i,
                    last_trade_id=i, time_ms=T0_MS, is_buyer_maker=False) for i in (4, 5, 5, 6)]
    stats = TradeStats.of(trades, after_id=4)
    assert (stats.agg_trades, stats.last_trade_id, stats.volume) == (2, 6, Decimal("0.2"))
    assert TradeStats.of(trades, after_id=6) == TradeStats()


@st.composite
def book_tickers(draw: st.DrawFn, max_step_ms: int = 0) -> list[BookTicker]:
    """A symbol's conflated top-of-book messages: rising update ids, bid below ask,
    received up to ``max_step_ms`` after the one before."""
    update_id, received_ms, books = draw(st.integers(0, 10**9)), T0_MS, []
    for _ in range(draw(st.integers(0, 30))):
        update_id += draw(st.integers(1, 1000))
        received_ms += draw(st.integers(0, max_step_ms))
        bid = draw(st.integers(1, 10**12)) / 10**4
        ask = bid + draw(st.integers(1, 10**6)) / 10**4
        updates = draw(st.integers(1, 300))
        widest = draw(st.floats(spread_bps(bid, ask), 2e4))
        books.append(BookTicker(
            symbol=SYMBOL, update_id=update_id, bid=bid, bid_qty=1.0, ask=ask, ask_qty=1.0,
            received_ms=received_ms, updates=updates,
            spread_bps_sum=draw(st.floats(0, widest)) * updates, spread_bps_max=widest))
    return books


def assert_same(merged: SpreadStats, direct: SpreadStats) -> None:
    assert (merged.updates, merged.spread_bps_max) == (direct.updates, direct.spread_bps_max)
    assert (merged.bid, merged.ask, merged.update_id) == (direct.bid, direct.ask, direct.update_id)
    assert math.isclose(merged.spread_bps_sum, direct.spread_bps_sum, rel_tol=1e-12)


@given(book_tickers(), st.data())
def test_spread_statistics_merge_like_those_of_all_updates(
    books: list[BookTicker], data: st.DataObject,
) -> None:
    a, b = sorted(data.draw(st.lists(st.integers(0, len(books)), min_size=2, max_size=2)))
    first, second, third = (SpreadStats.of(part) for part in (books[:a], books[a:b], books[b:]))
    everything = SpreadStats.of(books)
    assert_same((first + second) + third, everything)
    assert_same(first + (second + third), everything)
    summary = everything.summary()
    if books:
        assert (summary["bid"], summary["ask"]) == (books[-1].bid, books[-1].ask)
        assert summary["spread_bps_mean"] == everything.spread_bps_sum / everything.updates
        assert summary["spread_bps_max"] == max(book.spread_bps_max for book in books)
    else:
        assert summary == {"bid": None, "ask": None, "spread_bps_mean": None,
                           "spread_bps_max": None}


@given(book_tickers(), st.data())
def test_redelivered_book_tickers_count_once(books: list[BookTicker], data: st.DataObject) -> None:
    window = SpreadStats()
    for batch in redelivered_batches(data, len(books)):
        window = SpreadStats.loads(
            (window + SpreadStats.of(books[batch], after_id=window.update_id)).dumps())
    assert_same(window, SpreadStats.of(books))
