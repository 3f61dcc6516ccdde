"""Trade candles against a direct computation over the trades, as Binance's klines count
them, for any split into batches and any redelivery."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import PriceTick, Trade
from cryptoflow.tables.candles import candle
from cryptoflow.tables.trade_candles import CandleState, candle_document, fold_trades
from tests.unit.test_tables.trade_histories import (
    SYMBOL,
    T0,
    T0_MS,
    Drawn,
    direct,
    histories,
    redelivered_batches,
)


def candles_of(closed: list[CandleState], state: CandleState | None) -> list[dict[str, object]]:
    return [candle_document(SYMBOL, c) for c in [*closed, *([state] if state else [])]]


@given(histories())
def test_one_batch_gives_one_candle_per_minute_equal_to_the_kline(history: list[Drawn]) -> None:
    state, closed, late = fold_trades(None, [d.trade for d in history])
    assert late == []
    assert candles_of(closed, state) == direct(history)


@given(histories(), st.data())
def test_any_split_and_any_redelivery_gives_the_same_candles(
    history: list[Drawn], data: st.DataObject,
) -> None:
    """Batches of any size; after each, the next may start again anywhere before (a
    redelivered tail, a trade streamed and re-fetched); the state passes through JSON
    between batches, as through the table's changelog."""
    trades = [d.trade for d in history]
    state: CandleState | None = None
    closed: list[CandleState] = []
    for batch in redelivered_batches(data, len(trades)):
        state, newly_closed, late = fold_trades(state, trades[batch])
        assert late == []
        closed += newly_closed
        assert state is not None
        state = CandleState.loads(state.dumps())
    assert candles_of(closed, state) == direct(history)


def test_a_trade_of_an_earlier_minute_with_a_new_id_is_returned_late_and_counted_nowhere() -> None:
    def trade(trade_id: int, second: int, price: float) -> Trade:
        return Trade(symbol=SYMBOL, trade_id=trade_id, price=price, qty=1.0,
                     first_trade_id=trade_id, last_trade_id=trade_id,
                     time_ms=T0_MS + second * 1000, is_buyer_maker=False)

    first, second, out_of_time, third = trade(1, 5, 10.0), trade(2, 65, 11.0), trade(3, 30, 99.0), \
        trade(4, 70, 12.0)
    state, closed, late = fold_trades(None, [first, second, out_of_time, third])
    assert late == [out_of_time]
    assert [c.start_ms for c in closed] == [T0_MS]
    assert (closed[0].high, closed[0].trades) == (10.0, 1)
    assert state is not None
    assert (state.start_ms, state.high, state.trades, state.last_trade_id) == (
        T0_MS + 60_000, 12.0, 2, 4)
    assert (state.agg_trades, state.last_trade_id - state.first_trade_id + 1) == (2, 3)


def test_the_state_given_is_not_changed_and_survives_json_without_infinities() -> None:
    trades = [Trade(symbol=SYMBOL, trade_id=i, price=0.1 * i, qty=0.1, first_trade_id=i,
                    last_trade_id=i, time_ms=T0_MS + i, is_buyer_maker=True) for i in (1, 2, 3)]
    state, _, _ = fold_trades(None, trades[:1])
    assert state is not None
    before = state.dumps()
    after, _, _ = fold_trades(state, trades[1:])
    assert state.dumps() == before
    assert after is not None
    assert after.volume == Decimal("0.3")  # not 0.30000000000000004
    wire = after.dumps()
    assert b"Infinity" not in wire and b"NaN" not in wire
    assert CandleState.loads(wire) == after


def test_a_trade_candle_has_the_id_of_the_tick_candle_it_replaces() -> None:
    trade = Trade(symbol=SYMBOL, trade_id=7, price=5.0, qty=2.0, first_trade_id=7,
                  last_trade_id=7, time_ms=T0_MS + 42_123, is_buyer_maker=False)
    state, _, _ = fold_trades(None, [trade])
    assert state is not None
    ticks = [PriceTick(symbol=SYMBOL, price=5.0, ts=trade.ts)]
    tick_candle = candle(SYMBOL, T0, T0 + timedelta(minutes=1), ticks)
    assert tick_candle is not None
    assert candle_document(SYMBOL, state)["_id"] == tick_candle["_id"]
    assert state.end_ms == T0_MS + 60_000


def trade_at(trade_id: int, second: int, price: float, qty: float, buyer_maker: bool) -> Trade:
    return Trade(symbol=SYMBOL, trade_id=trade_id, price=price, qty=qty,
                 first_trade_id=trade_id, last_trade_id=trade_id,
                 time_ms=T0_MS + second * 1000, is_buyer_maker=buyer_maker)


def test_taker_buy_volumes_add_up_the_trades_whose_buyer_was_the_taker_exactly() -> None:
    trades = [trade_at(1, 1, 0.1, 0.1, False), trade_at(2, 2, 0.2, 5.0, True),
              trade_at(3, 3, 0.3, 0.2, False), trade_at(4, 4, 0.4, 7.0, True)]
    one_by_one: CandleState | None = None
    for trade in trades:
        one_by_one, _, _ = fold_trades(one_by_one, [trade])
    at_once, _, _ = fold_trades(None, trades)
    for state in (one_by_one, at_once):
        assert state is not None
        assert (state.taker_buy_volume, state.taker_buy_quote_volume) == (
            Decimal("0.3"), Decimal("0.07"))  # 0.1 + 0.2, 0.1 * 0.1 + 0.3 * 0.2
        document = candle_document(SYMBOL, state)
        assert (document["taker_buy_volume"], document["taker_buy_quote_volume"]) == (0.3, 0.07)


def test_a_candle_of_a_state_written_without_taker_volumes_says_it_does_not_know_them() -> None:
    """A changelog value from before the state had taker buy volumes: its candle gets
    None for them, also after more trades of its minute (a sum of only those would be
    wrong); the next minute's candle has them again."""
    state, _, _ = fold_trades(None, [trade_at(1, 1, 10.0, 1.0, False)])
    assert state is not None
    value = json.loads(state.dumps())
    del value["taker_buy_volume"], value["taker_buy_quote_volume"]
    older = CandleState.loads(json.dumps(value).encode())
    assert (older.taker_buy_volume, older.taker_buy_quote_volume) == (None, None)

    forming, closed, _ = fold_trades(older, [trade_at(2, 2, 11.0, 2.0, False),
                                             trade_at(3, 61, 12.0, 3.0, False)])
    (document,) = candles_of(closed, None)
    assert (document["volume"], document["taker_buy_volume"],
            document["taker_buy_quote_volume"]) == (3.0, None, None)
    assert forming is not None
    assert candle_document(SYMBOL, forming)["taker_buy_quote_volume"] == 36.0
