"""One table value per symbol (forming candle and open windows): batch by batch, with
redeliveries and through JSON, it gives the candles and window statistics of all the
trades at once, and every window is closed with its final value."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import Trade
from cryptoflow.tables.open_windows import open_stats
from cryptoflow.tables.trade_candles import CandleState, candle_document, fold_trades
from cryptoflow.tables.trade_state import TradeState, advance
from cryptoflow.tables.trade_stats import TradeStats
from cryptoflow.tables.windows import WINDOWS
from tests.unit.test_tables.trade_histories import (
    SYMBOL,
    T0_MS,
    Drawn,
    assert_same_trades,
    direct,
    histories,
    redelivered_batches,
)


def by_window(trades: list[Trade]) -> dict[tuple[str, datetime], TradeStats]:
    """Each window's statistics computed over all its trades at once."""
    found: dict[tuple[str, datetime], TradeStats] = {}
    for name, spec in WINDOWS.items():
        for start, part in spec.split(trades).items():
            found[name, start] = TradeStats.of(part)
    return found


@given(histories(), st.data())
def test_batch_by_batch_with_redeliveries_equals_all_trades_at_once(
    history: list[Drawn], data: st.DataObject,
) -> None:
    """As the agent does it: each batch may start again anywhere before the last one
    ended (a redelivered tail, a trade streamed and re-fetched), and the state passes
    through JSON between batches, as through the table's changelog. A closed window may
    be written again (set, not added), so the last write of each counts."""
    trades = [d.trade for d in history]
    state: TradeState | None = None
    candles: list[CandleState] = []
    windows: dict[tuple[str, datetime], TradeStats] = {}
    for batch in redelivered_batches(data, len(trades)):
        advanced = advance(state, trades[batch])
        assert advanced is not None  # the batch reaches past the one before
        assert advanced.late == [] and advanced.past == []
        candles += advanced.closed_candles
        for closed in advanced.closed_windows:
            assert (closed.name, closed.start) not in windows, "a window closed twice"
            windows[closed.name, closed.start] = closed.stats
        state = TradeState.loads(advanced.state.dumps())
        assert advanced.state == state
        assert advance(state, trades[batch]) is None  # the same batch again: no write
    assert state is not None and state.last_trade_id == trades[-1].trade_id
    assert advance(state, trades) is None  # every trade counted before
    for name, open_window in state.windows.items():
        windows[name, open_window.start] = open_window.stats
    expected = by_window(trades)
    assert windows.keys() == expected.keys()
    for key, stats in windows.items():
        assert_same_trades(stats, expected[key])
    assert state.candle is not None
    assert [candle_document(SYMBOL, c) for c in [*candles, state.candle]] == direct(history)


@given(histories())
def test_the_state_answers_for_its_open_windows_only(history: list[Drawn]) -> None:
    trades = [d.trade for d in history]
    advanced = advance(None, trades)
    assert advanced is not None
    state = advanced.state
    newest = trades[-1].ts
    for name, spec in WINDOWS.items():
        found = by_window(trades)[name, spec.bounds(newest)[0]]
        assert open_stats(state.windows, spec, newest) == found
        assert open_stats(state.windows, spec, newest + spec.size) is None
        assert open_stats(state.windows, spec, newest - spec.size) is None


def test_a_trade_of_a_window_before_the_open_one_is_returned_for_that_window() -> None:
    def trade(trade_id: int, second: int) -> Trade:
        return Trade(symbol=SYMBOL, trade_id=trade_id, price=10.0, qty=1.0,
                     first_trade_id=trade_id, last_trade_id=trade_id,
                     time_ms=T0_MS + second * 1000, is_buyer_maker=False)

    first = advance(None, [trade(1, 5), trade(2, 65)])
    assert first is not None
    assert [(c.name, c.start.second, c.stats.agg_trades) for c in first.closed_windows] == [
        ("1m", 0, 1)]
    out_of_time = trade(3, 30)  # a new id, timed in the minute already closed
    second = advance(first.state, [out_of_time])
    assert second is not None
    assert second.past == [("1m", [out_of_time])]  # 5m and 1h: still the open window
    assert second.late == [out_of_time] and second.closed_candles == []
    assert second.state.windows["1m"] == first.state.windows["1m"]
    assert second.state.windows["5m"].stats.agg_trades == 3
    assert second.state.last_trade_id == 3
    assert advance(second.state, [out_of_time]) is None  # redelivered: counted once


def test_the_candle_part_is_what_fold_trades_makes() -> None:
    trades = [Trade(symbol=SYMBOL, trade_id=i, price=10.0 + i, qty=0.5, first_trade_id=i,
                    last_trade_id=i, time_ms=T0_MS + i * 20_000, is_buyer_maker=i % 2 == 0)
              for i in range(1, 8)]
    advanced = advance(None, trades)
    candle, closed, late = fold_trades(None, trades)
    assert advanced is not None
    assert (advanced.state.candle, advanced.closed_candles, advanced.late) == (
        candle, closed, late)
    per_window: dict[str, int] = defaultdict(int)
    for closed_window in advanced.closed_windows:
        per_window[closed_window.name] += closed_window.stats.agg_trades
    assert per_window["1m"] + advanced.state.windows["1m"].stats.agg_trades == len(trades)
