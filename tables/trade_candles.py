"""1-minute candles from aggregate trades, equal to Binance's klines. Pure.

The agent reading the ``trades`` topic keeps each symbol's forming candle (``CandleState``)
in its trade state (tables/trade_state.py) and folds every batch into it with
``fold_trades``; a trade of a later minute closes the candle, which goes to
``candles_1m`` as ``candle_document``.

Exact under at-least-once delivery, because a symbol's aggregate trade ids are consecutive
and its trades reach the fold in id order (the topic keeps the order in which the streams
client and the gap filler publish them): a trade whose id is not above the last one folded
in was counted before (a redelivered batch, a trade both streamed and re-fetched) and is
skipped. Volume and quote volume, and the taker buy volumes (of the trades whose buyer
was the taker: ``is_buyer_maker`` false), are kept as exact decimals (tables/exact.py), so
they do not depend on how the trades were split into batches and ``volume`` and
``taker_buy_volume`` equal the kline's ``v`` and ``V``; Binance prints the kline's ``q``
and ``Q`` with 8 places, ours are the unrounded sums.

A trade with a new id but a time in a minute before the forming candle's cannot happen on
Binance (trade times do not decrease along ids). If one comes, it is counted in no candle
(the one of its minute may have been written already; putting it into a later minute
would make that one differ from the kline) and returned in ``Folded.late`` for the caller
to log and count. It does not move ``last_trade_id``, so a redelivery reports it again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from cryptoflow.records import Record, Trade
from cryptoflow.tables.candles import candle_id
from cryptoflow.tables.exact import EXACT, ZERO, decimal

MINUTE = timedelta(minutes=1)
MINUTE_MS = 60_000
SOURCE = "trades"


class CandleState(Record, serializer="json", include_metadata=False, decimals=True):
    """The forming candle of one symbol: the minute starting at ``start_ms`` (epoch ms) and
    the trades folded into it, ``first_trade_id..last_trade_id`` (aggregate ids). It
    exists only once it has a trade, so it holds no infinities (JSON in a changelog).

    ``taker_buy_volume`` and ``taker_buy_quote_volume`` are None in a state read from a
    changelog value written without them: the trades folded in before are not known, so
    that candle's document says None rather than a sum of only its later trades. Every
    candle opened here has them."""

    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: Decimal  # sum of qty, exact (a string in JSON)
    quote_volume: Decimal  # sum of price * qty, exact
    trades: int  # raw trades, what klines call n: sum of last - first + 1
    agg_trades: int  # aggregate trades folded in; below last - first + 1 if ids are missing
    first_trade_id: int
    last_trade_id: int
    taker_buy_volume: Decimal | None = None  # sum of qty where the taker bought, exact
    taker_buy_quote_volume: Decimal | None = None  # sum of price * qty of those, exact

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_ms / 1000, tz=UTC)

    @property
    def end_ms(self) -> int:
        """When the minute ends: from then on, only a late trade could still change it."""
        return self.start_ms + MINUTE_MS


class Folded(NamedTuple):
    """What ``fold_trades`` returns: the forming candle, the candles the trades closed
    (oldest first) and the trades too late for the forming candle (see the module doc)."""

    state: CandleState | None
    closed: list[CandleState]
    late: list[Trade]


def minute_start_ms(time_ms: int) -> int:
    return time_ms - time_ms % MINUTE_MS


def fold_trades(state: CandleState | None, trades: Sequence[Trade]) -> Folded:
    """Fold a symbol's ``trades`` (in stream order) into its forming candle ``state``,
    which is not changed (a table value: the caller writes the returned one back)."""
    forming = state.derive() if state is not None else None
    closed: list[CandleState] = []
    late: list[Trade] = []
    for trade in trades:
        if forming is None:
            forming = _opened(trade)
        elif trade.trade_id <= forming.last_trade_id:
            continue  # counted before
        elif (start := minute_start_ms(trade.time_ms)) < forming.start_ms:
            late.append(trade)
        elif start > forming.start_ms:
            closed.append(forming)
            forming = _opened(trade)
        else:
            _add(forming, trade)
    return Folded(forming, closed, late)


def _opened(trade: Trade) -> CandleState:
    qty, quote = _volumes(trade)
    bought, bought_quote = _taker_buy(trade, qty, quote)
    return CandleState(
        start_ms=minute_start_ms(trade.time_ms),
        open=trade.price, high=trade.price, low=trade.price, close=trade.price,
        volume=qty, quote_volume=quote, trades=trade.raw_trades,
        agg_trades=1, first_trade_id=trade.trade_id, last_trade_id=trade.trade_id,
        taker_buy_volume=bought, taker_buy_quote_volume=bought_quote,
    )


def _add(forming: CandleState, trade: Trade) -> None:
    """One more trade of the same minute, in place (``forming`` is our own copy)."""
    qty, quote = _volumes(trade)
    forming.high = max(forming.high, trade.price)
    forming.low = min(forming.low, trade.price)
    forming.close = trade.price
    forming.volume = EXACT.add(forming.volume, qty)
    forming.quote_volume = EXACT.add(forming.quote_volume, quote)
    bought, bought_quote = _taker_buy(trade, qty, quote)
    forming.taker_buy_volume = _plus(forming.taker_buy_volume, bought)
    forming.taker_buy_quote_volume = _plus(forming.taker_buy_quote_volume, bought_quote)
    forming.trades += trade.raw_trades
    forming.agg_trades += 1
    forming.last_trade_id = trade.trade_id


def _volumes(trade: Trade) -> tuple[Decimal, Decimal]:
    """The trade's quantity and price * quantity, exact."""
    price, qty = decimal(trade.price), decimal(trade.qty)
    return qty, EXACT.multiply(price, qty)


def _taker_buy(trade: Trade, qty: Decimal, quote: Decimal) -> tuple[Decimal, Decimal]:
    """What the trade adds to the taker buy volumes: all of it if the taker bought (the
    buyer was not the maker), else nothing."""
    return (ZERO, ZERO) if trade.is_buyer_maker else (qty, quote)


def _plus(total: Decimal | None, term: Decimal) -> Decimal | None:
    """``total + term``, exact; None (not known) stays None."""
    return None if total is None else EXACT.add(total, term)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def candle_document(symbol: str, state: CandleState) -> dict[str, Any]:
    """The ``candles_1m`` document; its ``_id`` is that of the tick candle of the same
    minute (tables/candles.py), which it replaces. Its taker buy volumes are None where
    the state does not know them (see ``CandleState``)."""
    start = state.start
    return {
        "_id": candle_id(symbol, start), "symbol": symbol, "start": start, "end": start + MINUTE,
        "open": state.open, "high": state.high, "low": state.low, "close": state.close,
        "volume": float(state.volume), "quote_volume": float(state.quote_volume),
        "taker_buy_volume": _float(state.taker_buy_volume),
        "taker_buy_quote_volume": _float(state.taker_buy_quote_volume),
        "trades": state.trades, "agg_trades": state.agg_trades,
        "first_trade_id": state.first_trade_id, "last_trade_id": state.last_trade_id,
        "source": SOURCE,
    }


class FormingCandleWrites:
    """Which candle documents go to ``candles_1m`` now. Pure (times are passed in).

    A closed candle is final and written at once, and so is the forming one that opens
    the next minute. Otherwise a symbol's forming candle is written at most once every
    ``interval`` seconds: each write is an upsert the local database answers in ~0.7 ms,
    and writing it with every batch was the trades agent's largest cost per batch
    (bench/README.md). Until it is due, the newest forming document waits here, one per
    symbol; ``due`` gives the waiting ones whose time has come, so a symbol that stops
    trading is still written within ``interval``. 0 writes every forming candle at once.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._written_at: dict[str, float] = {}
        self._waiting: dict[str, dict[str, Any]] = {}

    def after_batch(
        self, symbol: str, closed: Sequence[dict[str, Any]], forming: dict[str, Any] | None,
        now: float,
    ) -> list[dict[str, Any]]:
        """The documents of one symbol's batch to write now (closed ones first)."""
        written = list(closed)
        self._waiting.pop(symbol, None)  # superseded by this batch's documents
        if forming is not None:
            last = self._written_at.get(symbol)
            if closed or last is None or now - last >= self.interval:
                written.append(forming)
                self._written_at[symbol] = now
            else:
                self._waiting[symbol] = forming
        return written

    def due(self, now: float) -> list[dict[str, Any]]:
        """The waiting forming documents whose symbol was last written ``interval`` ago."""
        ready = [symbol for symbol in self._waiting
                 if now - self._written_at[symbol] >= self.interval]
        for symbol in ready:
            self._written_at[symbol] = now
        return [self._waiting.pop(symbol) for symbol in ready]

    def known(self, symbol: str) -> bool:
        """Whether this symbol's forming candle was written since ``keep_only`` last let
        it go: if not, MongoDB may hold an older one (another worker held the symbol, or
        this one was stopped before a waiting candle was due), and ``after_batch`` writes
        the next at once."""
        return symbol in self._written_at

    def keep_only(self, symbols: Collection[str]) -> None:
        """Forget the symbols not in ``symbols`` (this worker no longer holds them: their
        new owner writes them, and a waiting document here is no newer than its table)."""
        for held in (self._written_at, self._waiting):
            for symbol in [s for s in held if s not in symbols]:
                del held[symbol]
