"""One symbol's simulated market: its aggregate trades and top of book, generated as
time passes, and the 1-minute klines of those trades.

Pure (no I/O, no clock): the caller says what time it is (``advance(now_ms)``), so
the same seed and the same calls give the same history. Prices and quantities are
whole numbers of 1e-8 (``UNITS``), so sums are exact and strings have 8 decimals.
Trades are kept in columns (``array``), about 33 bytes each, at most ``retention``
of them; the kline of every minute the history covered is kept apart (``MINUTES_KEPT``
of them), so klines outlive the trades they were made of, as on the exchange.
"""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, NamedTuple

UNITS = 10**8
MINUTE_MS = 60_000
MINUTES_KEPT = 7 * 24 * 60
# (rate multiplier, mean seconds, chance to be picked next): quiet seconds without a
# trade, ordinary flow, and bursts.
REGIMES = ((0.0, 2.0, 0.25), (1.0, 4.0, 0.5), (5.0, 1.0, 0.25))
# How many aggregate trades one taker order makes (it sweeps price levels: same
# millisecond, one tick apart), and how many raw trades one aggregate trade holds.
SWEEP_SIZES, SWEEP_WEIGHTS = (1, 2, 3, 4), (75, 15, 7, 3)
FILL_SIZES, FILL_WEIGHTS = (1, 2, 3), (70, 20, 10)
MEDIAN_NOTIONAL = 300.0  # quote currency per taker order


def decimal_string(units: int) -> str:
    """``units`` of 1e-8 as Binance writes amounts: 8 decimals."""
    whole, frac = divmod(units, UNITS)
    return f"{whole}.{frac:08d}"


class AggTrade(NamedTuple):
    agg_id: int
    price: int  # UNITS
    qty: int  # UNITS
    first_id: int
    last_id: int
    time_ms: int
    buyer_maker: bool

    def rest(self) -> dict[str, Any]:
        """The item ``GET /api/v3/aggTrades`` lists."""
        return {"a": self.agg_id, "p": decimal_string(self.price),
                "q": decimal_string(self.qty), "f": self.first_id, "l": self.last_id,
                "T": self.time_ms, "m": self.buyer_maker, "M": True}


class BookQuote(NamedTuple):
    update_id: int
    bid: int  # UNITS
    bid_qty: int
    ask: int
    ask_qty: int


@dataclass
class _Minute:
    """One minute's kline, summed as trades come (quote sums in UNITS**2)."""

    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    quote: int = 0
    trades: int = 0
    buy_volume: int = 0
    buy_quote: int = 0

    def add(self, price: int, qty: int, raw: int, buyer_maker: bool) -> None:
        self.high, self.low, self.close = max(self.high, price), min(self.low, price), price
        self.volume += qty
        self.quote += price * qty
        self.trades += raw
        if not buyer_maker:  # the taker bought
            self.buy_volume += qty
            self.buy_quote += price * qty

    def row(self, open_ms: int) -> list[Any]:
        return [open_ms, decimal_string(self.open), decimal_string(self.high),
                decimal_string(self.low), decimal_string(self.close),
                decimal_string(self.volume), open_ms + MINUTE_MS - 1, _quote(self.quote),
                self.trades, decimal_string(self.buy_volume), _quote(self.buy_quote), "0"]


def _quote(units_squared: int) -> str:
    """A sum of price x qty (UNITS**2) rounded half-even to 8 decimals, with Decimal."""
    with localcontext() as context:
        context.prec = 60
        value = (Decimal(units_squared) / UNITS**2).quantize(Decimal("1e-8"))
    return format(value, "f")


def _tick(price: float) -> int:
    """A price step that looks like the exchange's: about 1e-6 of the price."""
    return max(1, 10 ** (math.floor(math.log10(price)) + 2))


def _lot(price: float) -> int:
    """A quantity step worth about 1e-5 .. 1e-4 of the quote currency per tick."""
    return max(1, 10 ** (7 - math.floor(math.log10(price))))


class SymbolMarket:
    """One symbol's history. ``advance`` generates up to a time; the queries read it."""

    def __init__(
        self, symbol: str, start_price: float, start_ms: int, *, seed: int | str | None,
        trade_rate: float, book_rate: float, retention: int,
    ) -> None:
        if trade_rate < 0 or book_rate < 0 or retention < 1:
            raise ValueError("rates must be >= 0 and retention >= 1")
        self.symbol = symbol
        self.start_ms = start_ms
        self.retention = retention
        self._rng = random.Random(None if seed is None else f"{seed}/{symbol}")  # noqa: S311
        rng = self._rng
        self._tick, self._lot = _tick(start_price), _lot(start_price)
        self.price = max(self._tick, round(start_price * UNITS / self._tick) * self._tick)
        self.next_agg_id = rng.randrange(1_000_000, 9_000_000)
        self.next_raw_id = self.next_agg_id * 3 + rng.randrange(1000)
        self.book: BookQuote | None = None
        self._book_id = rng.randrange(10**9, 2 * 10**9)
        # Columns of the kept trades; kept trades start at index _base (the dead prefix
        # is cut once it is as long as what is kept, so cutting costs O(1) a trade).
        self._oldest_id = self.next_agg_id
        self._base = 0
        self._price, self._qty = array("q"), array("q")
        self._first, self._time = array("q"), array("q")
        self._raw, self._maker = array("b"), array("b")
        self._minutes: OrderedDict[int, _Minute] = OrderedDict()
        # Time is generated up to _clock; events are due at the times below (float ms).
        self._clock = float(start_ms)
        self._next_minute = (start_ms // MINUTE_MS + 1) * MINUTE_MS
        self._forced_rate = 1 / 60 if trade_rate * 60 >= 1 else 0.0  # per second
        sweep = sum(s * w for s, w in zip(SWEEP_SIZES, SWEEP_WEIGHTS, strict=True))
        self._order_rate = (trade_rate - self._forced_rate) / (sweep / sum(SWEEP_WEIGHTS))
        spent = sum(d * p for _, d, p in REGIMES)
        self._rate_norm = sum(m * d * p for m, d, p in REGIMES) / spent
        self._book_rate = book_rate
        self._regime_end = self._clock
        self._multiplier = 1.0
        self._next_order = math.inf
        self._next_book = self._clock + self._wait(book_rate)
        self._quiet_until = -math.inf  # no trade before this time (ms); the book goes on
        self._busy_until, self._busy_factor = -math.inf, 1.0  # a flood of trades

    # -- generation -----------------------------------------------------------------

    def advance(self, now_ms: int) -> tuple[list[AggTrade], list[BookQuote]]:
        """Generate everything up to ``now_ms`` (inclusive); return the new trades and book
        updates, oldest first."""
        trades: list[AggTrade] = []
        books: list[BookQuote] = []
        while True:
            due = min(self._regime_end, self._next_minute, self._next_order, self._next_book)
            if due > now_ms:
                break
            if due == self._regime_end:
                self._switch_regime()
            elif due == self._next_minute:
                self._close_minute(trades)
            elif due == self._next_order:
                if due >= self._quiet_until:
                    self._order(math.floor(due), trades)
                self._next_order += self._wait(self._rate_at(due))
            else:
                books.append(self._quote_book())
                self._next_book += self._wait(self._book_rate)
        self._clock = float(now_ms)
        self._trim()
        return trades, books

    def _wait(self, rate_per_s: float) -> float:
        return self._rng.expovariate(rate_per_s) * 1000 if rate_per_s > 0 else math.inf

    def _rate_at(self, time_ms: float) -> float:
        """Orders a second at ``time_ms``: the regime's rate, times a flood's factor."""
        factor = self._busy_factor if time_ms < self._busy_until else 1.0
        return self._order_rate * self._multiplier * factor

    def flood(self, until_ms: int, factor: float) -> None:
        """``factor`` times as many trades until ``until_ms``, from the time generated so
        far (a burst of genuine trading: one history, served the same three ways)."""
        self._busy_until, self._busy_factor = float(until_ms), factor
        self._next_order = min(self._next_order, self._clock + self._wait(
            self._rate_at(self._clock)))

    def quiet(self, until_ms: int) -> None:
        """No trade until ``until_ms`` (a pause in trading; book updates go on), from the
        time generated so far: the trades and klines stay one history."""
        self._quiet_until = float(until_ms)

    def _switch_regime(self) -> None:
        rng = self._rng
        multiplier, seconds, _ = rng.choices(REGIMES, weights=[r[2] for r in REGIMES])[0]
        start = self._regime_end
        self._multiplier = multiplier / self._rate_norm
        self._regime_end = start + rng.expovariate(1 / seconds) * 1000
        # arrivals are memoryless: drawing the next one afresh at a switch is exact
        self._next_order = start + self._wait(self._rate_at(start))

    def _close_minute(self, trades: list[AggTrade]) -> None:
        """At a minute boundary: the minute that ends gets its kline even without trades,
        and, when the rate is at least one a minute, a trade lands exactly on it."""
        boundary = self._next_minute
        previous = boundary - MINUTE_MS
        if previous not in self._minutes:
            self._minutes[previous] = _Minute(self.price, self.price, self.price, self.price)
        if self._forced_rate and boundary >= self._quiet_until:
            self._order(boundary, trades, sweep=1)
        self._next_minute += MINUTE_MS
        while len(self._minutes) > MINUTES_KEPT:
            self._minutes.popitem(last=False)

    def _order(self, time_ms: int, trades: list[AggTrade], sweep: int = 0) -> None:
        """One taker order: ``sweep`` aggregate trades at one millisecond, one tick apart."""
        rng = self._rng
        buyer_maker = rng.random() < 0.5
        self.price = max(self._tick, self.price + round(rng.gauss(0, 2)) * self._tick)
        sweep = sweep or rng.choices(SWEEP_SIZES, weights=SWEEP_WEIGHTS)[0]
        notional = rng.lognormvariate(math.log(MEDIAN_NOTIONAL), 1.0)
        for level in range(sweep):
            if level:
                self.price = max(self._tick, self.price + (-1 if buyer_maker else 1) * self._tick)
            qty = max(1, round(notional * UNITS * UNITS / self.price / sweep / self._lot))
            raw = rng.choices(FILL_SIZES, weights=FILL_WEIGHTS)[0]
            trades.append(self._record(self.price, qty * self._lot, raw, time_ms, buyer_maker))

    def _record(self, price: int, qty: int, raw: int, time_ms: int, maker: bool) -> AggTrade:
        trade = AggTrade(self.next_agg_id, price, qty, self.next_raw_id,
                         self.next_raw_id + raw - 1, time_ms, maker)
        self.next_agg_id += 1
        self.next_raw_id += raw
        self._price.append(price)
        self._qty.append(qty)
        self._first.append(trade.first_id)
        self._time.append(time_ms)
        self._raw.append(raw)
        self._maker.append(maker)
        open_ms = time_ms - time_ms % MINUTE_MS
        minute = self._minutes.get(open_ms)
        if minute is None:
            minute = self._minutes[open_ms] = _Minute(price, price, price, price)
        minute.add(price, qty, raw, maker)
        return trade

    def _quote_book(self) -> BookQuote:
        rng = self._rng
        self._book_id += rng.randint(1, 5)
        bid = max(self._tick, self.price - rng.randint(0, 2) * self._tick)
        ask = bid + rng.randint(1, 3) * self._tick
        self.book = BookQuote(self._book_id, bid, self._lot * rng.randint(1, 500), ask,
                              self._lot * rng.randint(1, 500))
        return self.book

    def _trim(self) -> None:
        kept = len(self._time) - self._base
        if kept > self.retention:
            self._base += kept - self.retention
            self._oldest_id += kept - self.retention
        if self._base and self._base >= len(self._time) - self._base:
            for column in (self._price, self._qty, self._first, self._time, self._raw,
                           self._maker):
                del column[:self._base]
            self._base = 0

    # -- queries --------------------------------------------------------------------

    @property
    def oldest_id(self) -> int:
        """The id of the oldest trade kept (== next_agg_id when none is)."""
        return self._oldest_id

    def _trade(self, index: int) -> AggTrade:
        raw = self._raw[index]
        first = self._first[index]
        return AggTrade(self._oldest_id + index - self._base, self._price[index],
                        self._qty[index], first, first + raw - 1, self._time[index],
                        bool(self._maker[index]))

    def _slice(self, start: int, stop: int) -> list[AggTrade]:
        return [self._trade(i) for i in range(start, stop)]

    def trades(self) -> list[AggTrade]:
        """Every trade kept, oldest first."""
        return self._slice(self._base, len(self._time))

    def from_id(self, agg_id: int, limit: int) -> list[AggTrade]:
        """Up to ``limit`` trades with id >= ``agg_id``; from the oldest kept if it is older."""
        start = self._base + max(0, agg_id - self._oldest_id)
        return self._slice(start, min(start + limit, len(self._time)))

    def between(self, start_ms: int | None, end_ms: int | None, limit: int) -> list[AggTrade]:
        """Up to ``limit`` trades with time in [start_ms, end_ms]: the first ones from a
        start, else the last ones up to the end."""
        low = self._base if start_ms is None else bisect_left(self._time, start_ms, self._base)
        high = (len(self._time) if end_ms is None
                else bisect_right(self._time, end_ms, self._base))
        if start_ms is None:
            return self._slice(max(low, high - limit), high)
        return self._slice(low, min(high, low + limit))

    def latest(self, limit: int) -> list[AggTrade]:
        return self._slice(max(self._base, len(self._time) - limit), len(self._time))

    def kline(self, open_ms: int) -> list[Any] | None:
        """The kline of a minute the history covers, as ``GET /api/v3/klines`` lists it;
        None for a minute that has not begun."""
        if open_ms > self._clock:
            return None
        minute = self._minutes.get(open_ms)
        if minute is None:  # the open minute, no trade yet
            minute = _Minute(self.price, self.price, self.price, self.price)
        return minute.row(open_ms)

    def first_minute(self) -> int:
        """Open time of the oldest minute whose kline the history still holds."""
        start = self.start_ms - self.start_ms % MINUTE_MS
        return next(iter(self._minutes), start)
