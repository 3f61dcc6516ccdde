"""What the trades agent keeps of one symbol, as one table value. Pure.

``TradeState`` holds a symbol's forming candle, per window kind the *open* window (the
one the newest trade falls in) and the open hour of the coverage ledger
(tables/coverage.py), so a batch of a symbol's trades costs one changelog write. A
window goes to its windowed table once, when a trade of a later window closes it; that
is where the reads of past windows (``?at=``) find it (the window loop is
tables/open_windows.py, shared with the book state). A ledger hour closed by a trade of a
later hour goes to the ``coverage`` collection. Invalid trades (``Trade.invalid``) count
in the ledger only.

Exact under at-least-once delivery: ``last_trade_id`` is the highest trade id counted
anywhere in the value, and a symbol's ids reach the agent in order, so ``advance``
skips every trade not above it. A closed window is *set* in its table, not added to:
written again (after a stop between that write and the state's), it is the same value.
A trade of a window before the open one (trade times do not decrease along ids on
Binance, so only an anomaly makes one) is returned in ``Advanced.past``, to be added to
that window in its table, where the window's own ``last_trade_id`` makes it count once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from cryptoflow.records import Record, Trade
from cryptoflow.tables.coverage import LedgerHour, fold_ledger
from cryptoflow.tables.open_windows import ClosedWindow, OpenTradeWindow, move_windows
from cryptoflow.tables.trade_candles import CandleState, fold_trades
from cryptoflow.tables.trade_stats import TradeStats
from cryptoflow.tables.windows import WINDOWS, WindowSpec


class TradeState(Record, serializer="json", include_metadata=False):
    """One symbol's forming candle and open windows (by window name), and the highest
    trade id counted in any of them: where a stream of the symbol resumes after a
    restart or a handover."""

    last_trade_id: int
    candle: CandleState | None
    windows: dict[str, OpenTradeWindow]
    ledger: LedgerHour | None = None  # the open hour of the coverage ledger


class Advanced(NamedTuple):
    """What ``advance`` returns: the new state, the candles the trades closed (oldest
    first), the trades too late for the forming candle (tables/trade_candles.py), the
    windows the trades closed and the trades of windows before the open ones."""

    state: TradeState
    closed_candles: list[CandleState]
    late: list[Trade]
    closed_windows: list[ClosedWindow[TradeStats]]
    past: list[tuple[str, list[Trade]]]  # (window name, trades of one window, in order)
    closed_hours: list[LedgerHour]  # coverage ledger hours the trades closed, oldest first


def advance(
    state: TradeState | None, trades: Sequence[Trade],
    windows: Mapping[str, WindowSpec] = WINDOWS,
) -> Advanced | None:
    """``state`` with a symbol's ``trades`` (in stream order) counted; None when all of
    them were counted before (nothing to write). ``state`` is not changed (a table value:
    the caller writes the returned one back)."""
    counted = state.last_trade_id if state is not None else -1
    fresh = [trade for trade in trades if trade.trade_id > counted]
    if not fresh:
        return None
    ledger, closed_hours = fold_ledger(state.ledger if state else None, fresh)
    valid = [trade for trade in fresh if not trade.invalid]
    candle, closed_candles, late = fold_trades(state.candle if state else None, valid)
    moved = move_windows(
        state.windows if state is not None else {}, valid, TradeStats.of, OpenTradeWindow,
        windows)
    return Advanced(
        TradeState(last_trade_id=fresh[-1].trade_id, candle=candle, windows=moved.opened,
                   ledger=ledger),
        closed_candles, late, moved.closed, moved.past, closed_hours,
    )
