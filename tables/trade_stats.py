"""What the 1m/5m/1h windows hold of the streamed trades and book tickers. Pure.

Like ``RollingStats``: small values that merge, so a batch costs one table write per
symbol and window: ``table[symbol] += TradeStats.of(part, after_id=current.last_trade_id)``.
``after_id`` makes that exact under at-least-once delivery: a symbol's ids reach the
agent in order, so one not above the highest counted was counted before. Volumes are
exact decimals (tables/exact.py): a window's volume then does not depend on the batches,
equals its minutes' candles' and ``buy_volume + sell_volume`` is ``volume`` to the digit.

``TradeStats`` also holds the price statistics of the window's trades (low, high, open,
close, mean and M2, first and last trade time), each aggregate trade one observation:
what ``/api/stats/`` serves for a window with trades (``window_fields`` in web/api.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from cryptoflow.records import BookTicker, Record, Trade, format_ts
from cryptoflow.tables.exact import EXACT, ZERO, decimal
from cryptoflow.tables.stats import chan, welford


class TradeStats(Record, serializer="json", include_metadata=False, decimals=True):
    """Aggregate and raw trades, taker buy and sell volume (``is_buyer_maker``: the buyer's
    order was resting, so the taker sold), quote volume, highest trade id counted, and
    the statistics of the trades' prices.

    The prices: ``low``, ``high``, ``open`` and ``close`` (the first and last trade by
    id: a symbol's trades reach the agent in id order), ``mean`` and ``m2`` (Welford's
    method, merged by Chan et al.'s combination as ``RollingStats`` does; each aggregate
    trade one observation, its price unweighted: ``vwap`` is the volume-weighted one),
    ``first_ms`` and ``last_ms`` (the first and last trade's time, epoch ms). All None
    where there are no price statistics: in an empty window (a changelog value holds no
    infinities), and in a value written before they existed, whose JSON has none of
    these fields: it has trades but unknown prices, and merged with more trades it stays
    so (``prices`` is None), so a count of some of a window's trades never passes
    for all of them; such a window's answer takes its prices from the ticks."""

    agg_trades: int = 0
    trades: int = 0
    buy_volume: Decimal = ZERO
    sell_volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    last_trade_id: int = -1
    low: float | None = None
    high: float | None = None
    open: float | None = None
    close: float | None = None
    mean: float | None = None
    m2: float | None = None
    first_ms: int | None = None
    last_ms: int | None = None

    @classmethod
    def of(cls, trades: Iterable[Trade], after_id: int = -1) -> TradeStats:
        """The statistics of a symbol's ``trades`` (in stream order, valid ones) with ids
        above ``after_id``; an id not above the one before is a second copy, skipped."""
        agg, raw, buy, sell, quote, last = 0, 0, ZERO, ZERO, ZERO, after_id
        mean = m2 = 0.0
        first: Trade | None = None
        newest: Trade | None = None
        low = high = 0.0
        for trade in trades:
            if trade.trade_id <= last:
                continue
            price, qty = decimal(trade.price), decimal(trade.qty)
            if trade.is_buyer_maker:
                sell = EXACT.add(sell, qty)
            else:
                buy = EXACT.add(buy, qty)
            quote = EXACT.add(quote, EXACT.multiply(price, qty))
            mean, m2 = welford(agg, mean, m2, trade.price)
            if first is None:
                first, low, high = trade, trade.price, trade.price
            else:
                low, high = min(low, trade.price), max(high, trade.price)
            agg, raw, last, newest = agg + 1, raw + trade.raw_trades, trade.trade_id, trade
        if first is None or newest is None:
            return cls()
        return cls(agg_trades=agg, trades=raw, buy_volume=buy, sell_volume=sell,
                   quote_volume=quote, last_trade_id=last, low=low, high=high,
                   open=first.price, close=newest.price, mean=mean, m2=m2,
                   first_ms=first.time_ms, last_ms=newest.time_ms)

    def __add__(self, other: TradeStats) -> TradeStats:
        """Merged with the statistics of other trades of the window (not the same ones:
        ``of(..., after_id=self.last_trade_id)`` sees to that); the one with the higher
        ``last_trade_id`` holds the later trades (their id ranges do not overlap)."""
        return TradeStats(
            agg_trades=self.agg_trades + other.agg_trades, trades=self.trades + other.trades,
            buy_volume=EXACT.add(self.buy_volume, other.buy_volume),
            sell_volume=EXACT.add(self.sell_volume, other.sell_volume),
            quote_volume=EXACT.add(self.quote_volume, other.quote_volume),
            last_trade_id=max(self.last_trade_id, other.last_trade_id),
            **self._merged_prices(other),
        )

    def _merged_prices(self, other: TradeStats) -> dict[str, Any]:
        """The price fields of ``self + other``: none when either has trades without them."""
        if not other.agg_trades:
            return self._price_fields()
        if not self.agg_trades:
            return other._price_fields()
        mine, theirs = self.prices, other.prices
        if mine is None or theirs is None:
            return {}
        earlier, later = (mine, theirs) if self.last_trade_id < other.last_trade_id \
            else (theirs, mine)
        mean, m2 = chan(self.agg_trades, mine.mean, mine.m2,
                        other.agg_trades, theirs.mean, theirs.m2)
        return Prices(
            low=min(mine.low, theirs.low), high=max(mine.high, theirs.high),
            open=earlier.open, close=later.close, mean=mean, m2=m2,
            first_ms=earlier.first_ms, last_ms=later.last_ms)._asdict()

    def _price_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in Prices._fields}

    @property
    def prices(self) -> Prices | None:
        """The price statistics; None for a window without trades, or whose value was
        written before they were kept (see the class)."""
        values = self._price_fields()
        return Prices(**values) if self.agg_trades and None not in values.values() else None

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

    def price_summary(self) -> dict[str, Any] | None:
        """The price statistics as the web views serve them, with the keys and meaning of
        ``RollingStats.summary`` (``count``: aggregate trades; ``stddev``: population);
        None without them (``prices``)."""
        prices = self.prices
        if prices is None:
            return None
        return {
            "count": self.agg_trades, "min": prices.low, "max": prices.high,
            "mean": prices.mean, "stddev": math.sqrt(max(0.0, prices.m2 / self.agg_trades)),
            "open": prices.open, "close": prices.close,
            "change_pct": (prices.close - prices.open) / prices.open * 100
            if prices.open else None,
            "first_ts": format_ts(_time(prices.first_ms)),
            "last_ts": format_ts(_time(prices.last_ms)),
        }


class Prices(NamedTuple):
    """``TradeStats``' price statistics, all known."""

    low: float
    high: float
    open: float
    close: float
    mean: float
    m2: float
    first_ms: int
    last_ms: int


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


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
