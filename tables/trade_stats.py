"""What the 1m/5m/1h windows hold of the streamed trades and book tickers. Pure.

Like ``RollingStats``: small values that merge, so a batch costs one table write per
symbol and window: ``table[symbol] += TradeStats.of(part, after_id=current.last_trade_id)``.
``after_id`` makes that exact under at-least-once delivery: a symbol's ids reach the
agent in order, so one not above the highest counted was counted before. Volumes are
exact decimals (tables/exact.py): a window's volume then does not depend on the batches,
equals its minutes' candles' and ``buy_volume + sell_volume`` is ``volume`` to the digit.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from cryptoflow.records import BookTicker, Record, Trade
from cryptoflow.tables.exact import EXACT, ZERO, decimal


class TradeStats(Record, serializer="json", include_metadata=False, decimals=True):
    """Aggregate and raw trades, taker buy and sell volume (``is_buyer_maker``: the buyer's
    order was resting, so the taker sold), quote volume, highest trade id counted."""

    agg_trades: int = 0
    trades: int = 0
    buy_volume: Decimal = ZERO
    sell_volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    last_trade_id: int = -1

    @classmethod
    def of(cls, trades: Iterable[Trade], after_id: int = -1) -> TradeStats:
        """The statistics of a symbol's ``trades`` (in stream order) with ids above
        ``after_id``; an id not above the one before is a second copy, skipped."""
        agg, raw, buy, sell, quote, last = 0, 0, ZERO, ZERO, ZERO, after_id
        for trade in trades:
            if trade.trade_id <= last:
                continue
            price, qty = decimal(trade.price), decimal(trade.qty)
            if trade.is_buyer_maker:
                sell = EXACT.add(sell, qty)
            else:
                buy = EXACT.add(buy, qty)
            quote = EXACT.add(quote, EXACT.multiply(price, qty))
            agg, raw, last = agg + 1, raw + trade.raw_trades, trade.trade_id
        return cls(agg_trades=agg, trades=raw, buy_volume=buy, sell_volume=sell,
                   quote_volume=quote, last_trade_id=last if agg else -1)

    def __add__(self, other: TradeStats) -> TradeStats:
        """Merged with the statistics of other trades of the window (not the same ones:
        ``of(..., after_id=self.last_trade_id)`` sees to that)."""
        return TradeStats(
            agg_trades=self.agg_trades + other.agg_trades, trades=self.trades + other.trades,
            buy_volume=EXACT.add(self.buy_volume, other.buy_volume),
            sell_volume=EXACT.add(self.sell_volume, other.sell_volume),
            quote_volume=EXACT.add(self.quote_volume, other.quote_volume),
            last_trade_id=max(self.last_trade_id, other.last_trade_id),
        )

    @property
    def volume(self) -> Decimal:
        return EXACT.add(self.buy_volume, self.sell_volume)

    def summary(self) -> dict[str, Any]:
        """The JSON the web views serve; ``vwap`` is ``None`` without volume."""
        volume = self.volume
        return {
            "volume": float(volume), "quote_volume": float(self.quote_volume),
            "vwap": float(EXACT.divide(self.quote_volume, volume)) if volume else None,
            "trades": self.trades,
            "buy_volume": float(self.buy_volume), "sell_volume": float(self.sell_volume),
        }


class SpreadStats(Record, serializer="json", include_metadata=False):
    """The spread over the book updates of a window (each ``BookTicker`` stands for
    ``updates`` of them) and the latest top of book, by update id."""

    updates: int = 0
    spread_bps_sum: float = 0.0
    spread_bps_max: float = 0.0
    bid: float = 0.0
    ask: float = 0.0
    update_id: int = -1

    @classmethod
    def of(cls, books: Iterable[BookTicker], after_id: int = -1) -> SpreadStats:
        """The statistics of a symbol's ``books`` (in stream order) with update ids above
        ``after_id``; as with trades, that makes a redelivered batch count once."""
        updates, total, widest, latest = 0, 0.0, 0.0, None
        for book in books:
            if book.update_id > (latest.update_id if latest else after_id):
                updates += book.updates
                total += book.spread_bps_sum
                widest = max(widest, book.spread_bps_max)
                latest = book
        if latest is None:
            return cls()
        return cls(updates=updates, spread_bps_sum=total, spread_bps_max=widest,
                   bid=latest.bid, ask=latest.ask, update_id=latest.update_id)

    def __add__(self, other: SpreadStats) -> SpreadStats:
        """Merged with the statistics of other updates of the window."""
        if not other.updates:
            return self
        if not self.updates:
            return other
        latest = other if other.update_id > self.update_id else self
        return SpreadStats(
            updates=self.updates + other.updates,
            spread_bps_sum=self.spread_bps_sum + other.spread_bps_sum,
            spread_bps_max=max(self.spread_bps_max, other.spread_bps_max),
            bid=latest.bid, ask=latest.ask, update_id=latest.update_id,
        )

    def summary(self) -> dict[str, Any]:
        """The JSON the web views serve; ``None`` throughout for a window without updates."""
        if not self.updates:
            return {"bid": None, "ask": None, "spread_bps_mean": None, "spread_bps_max": None}
        return {
            "bid": self.bid, "ask": self.ask,
            "spread_bps_mean": self.spread_bps_sum / self.updates,
            "spread_bps_max": self.spread_bps_max,
        }
