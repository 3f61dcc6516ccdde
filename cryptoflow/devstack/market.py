"""One symbol's simulated market: one price process drives its aggregate trades and top
of book, generated as time passes, the 1-minute klines of those trades, and the klines
of the minutes before the history began.

The price process, in log price: a random walk whose standard deviation over a minute
is ``volatility`` (5 basis points by default) times the multiplier of a volatility
spell (quiet, ordinary or busy, each 30 to 90 minutes long), plus flash moves (a jump
of 2.5 % to 4 % either way that decays back with a time constant of 3 minutes and is
gone after 30; one every 30 to 90 minutes, the first 3 to 12 minutes after the history
begins). It starts at the start price with the first trade; trades scatter a few ticks
around it (a taker's sweep one tick further per level); the top of book straddles the
last trade. Before the history, ``PastWalk`` draws the same process backwards from the
start price. It has its own generator, so the trades' ids and times are the same whatever
the prices.

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
from itertools import accumulate
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
MEAN_SWEEP = sum(s * w for s, w in zip(SWEEP_SIZES, SWEEP_WEIGHTS, strict=True)) / sum(
    SWEEP_WEIGHTS)
MEAN_FILL = sum(s * w for s, w in zip(FILL_SIZES, FILL_WEIGHTS, strict=True)) / sum(
    FILL_WEIGHTS)
MEDIAN_NOTIONAL = 300.0  # quote currency per taker order
VOLATILITY = 0.0005  # standard deviation of a minute's log return in an ordinary spell
# Volatility spells: (multiplier of VOLATILITY, chance to be picked next); each lasts
# SPELL_MS, drawn uniformly.
SPELLS = ((0.4, 0.3), (1.0, 0.5), (2.5, 0.2))
SPELL_MS = (30 * MINUTE_MS, 90 * MINUTE_MS)
# Flash moves: a jump of JUMP_SIZES (log, either way) that decays back with the time
# constant JUMP_DECAY_MS and is gone after JUMP_GONE_MS; JUMP_GAPS_MS apart, the first
# FIRST_JUMP_MS after the history begins.
JUMP_SIZES = (0.025, 0.04)
JUMP_DECAY_MS, JUMP_GONE_MS = 3 * MINUTE_MS, 30 * MINUTE_MS
JUMP_GAPS_MS = (30 * MINUTE_MS, 90 * MINUTE_MS)
FIRST_JUMP_MS = (3 * MINUTE_MS, 12 * MINUTE_MS)
DAY_MINUTES = 24 * 60
DAYS_CACHED = 4  # days of PastWalk minutes kept computed


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
    step: int = max(1, 10 ** (math.floor(math.log10(price)) + 2))  # a float 10**-n is < 1
    return step


def _lot(price: float) -> int:
    """A quantity step worth about 1e-5 .. 1e-4 of the quote currency per tick."""
    step: int = max(1, 10 ** (7 - math.floor(math.log10(price))))  # a float 10**-n is < 1
    return step


def _on_tick(log_price: float, tick: int) -> int:
    """The price (UNITS) of a log price (of UNITS), to the nearest tick, at least one."""
    return max(tick, round(math.exp(log_price) / tick) * tick)


def _spell(rng: random.Random) -> tuple[float, float]:
    """The next volatility spell: its multiplier of the volatility, and its length (ms)."""
    multiplier = rng.choices([m for m, _ in SPELLS], weights=[w for _, w in SPELLS])[0]
    return multiplier, rng.uniform(*SPELL_MS)


@dataclass
class _Jumps:
    """The flash moves of a price process: what is left of them at a time (log)."""

    size: float = 0.0  # left just after the latest jump
    at: float = 0.0  # its time (ms)

    def left(self, time_ms: float) -> float:
        age = time_ms - self.at
        return self.size * math.exp(-age / JUMP_DECAY_MS) if age < JUMP_GONE_MS else 0.0

    def jump(self, time_ms: float, rng: random.Random) -> None:
        size = rng.uniform(*JUMP_SIZES) * rng.choice((-1, 1))
        self.size, self.at = self.left(time_ms) + size, time_ms


class PastWalk:
    """The klines of the minutes before a history began: the price process drawn
    backwards from ``end_price`` (UNITS) at ``end_ms`` (a minute's open), so the last
    one closes at that price. Any minute is computed on demand and is the same every
    time: the log price at each day's end (counted back from ``end_ms``) is drawn in
    turn, then a day's minutes from that day's own seed, as a bridge between its two
    ends (the steps shifted by their share of the variance); a day has no flash move in
    its last JUMP_GONE_MS. Each minute has about ``trade_rate`` aggregate trades a
    second, as the live history has."""

    def __init__(
        self, end_ms: int, end_price: int, seed: int, *, volatility: float,
        trade_rate: float, tick: int, lot: int,
    ) -> None:
        self._end_ms, self._seed = end_ms, seed
        self._volatility, self._tick, self._lot = volatility, tick, lot
        self._per_minute = trade_rate * 60
        # the mean notional of a live aggregate trade (a taker order's is lognormal, sigma 1)
        self._notional = MEDIAN_NOTIONAL * math.exp(0.5) / MEAN_SWEEP
        mean_square = sum(m * m * w for m, w in SPELLS) / sum(w for _, w in SPELLS)
        self._day_sigma = volatility * math.sqrt(DAY_MINUTES * mean_square)
        self._ends = [math.log(end_price)]  # log price at the end of day 0, 1, ...
        self._ends_rng = random.Random(f"{seed}/ends")  # noqa: S311  (a simulation)
        self._days: OrderedDict[int, list[_Minute]] = OrderedDict()

    def kline(self, open_ms: int) -> list[Any]:
        """The kline of the minute opening at ``open_ms`` (before ``end_ms``)."""
        day, back = divmod((self._end_ms - open_ms) // MINUTE_MS - 1, DAY_MINUTES)
        return self._day(day)[DAY_MINUTES - 1 - back].row(open_ms)

    def _end(self, day: int) -> float:
        while len(self._ends) <= day:
            self._ends.append(self._ends[-1] - self._ends_rng.gauss(0, self._day_sigma))
        return self._ends[day]

    def _day(self, day: int) -> list[_Minute]:
        """Day ``day``'s minutes, oldest first."""
        if day in self._days:
            self._days.move_to_end(day)
            return self._days[day]
        rng = random.Random(f"{self._seed}/{day}")  # noqa: S311  (a simulation)
        start, end = self._end(day + 1), self._end(day)
        sigmas, jump_minutes = [], set()
        spell_end, sigma, next_jump = 0.0, 0.0, rng.uniform(0, JUMP_GAPS_MS[1])
        for minute in range(DAY_MINUTES):
            time_ms = minute * MINUTE_MS
            if time_ms >= spell_end:
                multiplier, length = _spell(rng)
                sigma, spell_end = self._volatility * multiplier, spell_end + length
            sigmas.append(sigma)
            if next_jump <= time_ms <= DAY_MINUTES * MINUTE_MS - JUMP_GONE_MS:
                jump_minutes.add(minute)
                next_jump = time_ms + rng.uniform(*JUMP_GAPS_MS)
        steps = [rng.gauss(0, s) for s in sigmas]
        shift = (end - start - sum(steps)) / sum(s * s for s in sigmas)
        levels = list(accumulate((step + shift * s * s for step, s in zip(
            steps, sigmas, strict=True)), initial=start))
        levels[-1] = end
        jumps, minutes = _Jumps(), []
        for minute, sigma in enumerate(sigmas):
            time_ms = minute * MINUTE_MS
            opened = levels[minute] + jumps.left(time_ms)
            peak = opened
            if minute in jump_minutes:
                jumps.jump(time_ms, rng)
                peak = levels[minute] + jumps.left(time_ms)
            closed = levels[minute + 1] + jumps.left(time_ms + MINUTE_MS)
            minutes.append(self._minute(rng, sigma, opened, closed, peak))
        self._days[day] = minutes
        while len(self._days) > DAYS_CACHED:
            self._days.popitem(last=False)
        return minutes

    def _minute(
        self, rng: random.Random, sigma: float, opened: float, closed: float, peak: float,
    ) -> _Minute:
        """A minute's kline from its log prices: open, close and the jump's peak (wicks
        drawn beyond them), with a volume of about ``trade_rate``'s trades."""
        tick = self._tick
        high = _on_tick(max(opened, closed, peak) + abs(rng.gauss(0, sigma / 2)), tick)
        low = _on_tick(min(opened, closed, peak) - abs(rng.gauss(0, sigma / 2)), tick)
        open_, close = _on_tick(opened, tick), _on_tick(closed, tick)
        aggregates = max(1, round(self._per_minute * rng.lognormvariate(-0.125, 0.5)))  # mean 1
        notional = aggregates * self._notional * rng.lognormvariate(0, 0.3)
        lots = max(1, round(notional * UNITS * UNITS / ((open_ + close) / 2) / self._lot))
        buy_lots = round(lots * rng.uniform(0.3, 0.7))
        vwap = (open_ + high + low + close) // 4
        return _Minute(open_, high, low, close, lots * self._lot, lots * self._lot * vwap,
                       round(aggregates * MEAN_FILL),
                       buy_lots * self._lot, buy_lots * self._lot * vwap)


class SymbolMarket:
    """One symbol's history. ``advance`` generates up to a time; the queries read it."""

    def __init__(
        self, symbol: str, start_price: float, start_ms: int, *, seed: int | str | None,
        trade_rate: float, book_rate: float, retention: int, volatility: float = VOLATILITY,
    ) -> None:
        if trade_rate < 0 or book_rate < 0 or retention < 1 or volatility <= 0:
            raise ValueError("rates must be >= 0, retention >= 1 and volatility > 0")
        self.symbol = symbol
        self.start_ms = start_ms
        self.retention = retention
        self._rng = random.Random(None if seed is None else f"{seed}/{symbol}")  # noqa: S311
        rng = self._rng
        self._tick, self._lot = _tick(start_price), _lot(start_price)
        self.price = max(self._tick, round(start_price * UNITS / self._tick) * self._tick)
        # Seeded: ids from the seed, the same every run. Unseeded (make demo): from the
        # clock, so an exchange started again later goes on above the ids it gave before,
        # as Binance's do, and a recording kept from an earlier run sees a gap, not ids
        # going back (at most one trade a millisecond keeps them apart).
        self.next_agg_id = rng.randrange(1_000_000, 9_000_000) if seed is not None \
            else start_ms
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
        self._order_rate = (trade_rate - self._forced_rate) / MEAN_SWEEP
        spent = sum(d * p for _, d, p in REGIMES)
        self._rate_norm = sum(m * d * p for m, d, p in REGIMES) / spent
        self._book_rate = book_rate
        # The price process, on its own generator (so the trading is the same whatever
        # the prices): the log price without flash moves, the variance it has accrued
        # since it was last drawn (from the first trade on: inf before), the spell's
        # volatility, the flash moves.
        prices = self._price_rng = random.Random(  # noqa: S311  (a simulation)
            None if seed is None else f"{seed}/{symbol}/price")
        self._log_price = math.log(self.price)
        self._variance, self._accrued_to = 0.0, math.inf
        multiplier, length = _spell(prices)
        self._volatility = volatility
        self._sigma, self._spell_end = volatility * multiplier, self._clock + length
        self._jumps = _Jumps(at=self._clock)
        self._next_jump = self._clock + prices.uniform(*FIRST_JUMP_MS)
        self._start_minute = start_ms - start_ms % MINUTE_MS
        self._past = PastWalk(self._start_minute, self.price, prices.getrandbits(64),
                              volatility=volatility, trade_rate=trade_rate, tick=self._tick,
                              lot=self._lot)
        self._regime_end = self._clock
        self._multiplier = 1.0
        self._next_order = math.inf
        self._next_book = self._clock + self._wait(book_rate)
        self._quiet_until = -math.inf  # no trade before this time (ms); the book goes on
        # Trades Binance marks invalid (duplicates of other trades): counted in no kline.
        self.invalid_ids: set[int] = set()
        self._to_invalidate = 0
        self._busy_until, self._busy_factor = -math.inf, 1.0  # a flood of trades

    # -- generation -----------------------------------------------------------------

    def advance(self, now_ms: int) -> tuple[list[AggTrade], list[BookQuote]]:
        """Generate everything up to ``now_ms`` (inclusive); return the new trades and book
        updates, oldest first."""
        trades: list[AggTrade] = []
        books: list[BookQuote] = []
        while True:
            due = min(self._regime_end, self._spell_end, self._next_jump, self._next_minute,
                      self._next_order, self._next_book)
            if due > now_ms:
                break
            if due == self._regime_end:
                self._switch_regime()
            elif due == self._spell_end:
                self._switch_spell()
            elif due == self._next_jump:
                self._jumps.jump(due, self._price_rng)
                self._next_jump += self._price_rng.uniform(*JUMP_GAPS_MS)
            elif due == self._next_minute:
                self._close_minute(trades)
            elif due == self._next_order:
                if due >= self._quiet_until:
                    self._order(due, trades)
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

    def invalidate(self, count: int) -> None:
        """The next ``count`` trades are ones Binance marks invalid: they keep their ids,
        and, being duplicates of other trades there, count in no kline."""
        self._to_invalidate += count

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

    def _switch_spell(self) -> None:
        start = self._spell_end
        self._accrue(start)
        multiplier, length = _spell(self._price_rng)
        self._sigma, self._spell_end = self._volatility * multiplier, start + length

    def _accrue(self, time_ms: float) -> None:
        self._variance += self._sigma**2 * max(0.0, time_ms - self._accrued_to) / MINUTE_MS
        self._accrued_to = time_ms

    def _price_at(self, time_ms: float) -> int:
        """The process's price (UNITS, on a tick) at ``time_ms``, the latest time asked."""
        self._accrue(time_ms)
        self._log_price += self._price_rng.gauss(0, math.sqrt(self._variance))
        self._variance = 0.0
        return _on_tick(self._log_price + self._jumps.left(time_ms), self._tick)

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

    def _order(self, due: float, trades: list[AggTrade], sweep: int = 0) -> None:
        """One taker order at ``due``: ``sweep`` aggregate trades at one millisecond, the
        first a few ticks from the process's price, each further one a tick further."""
        rng = self._rng
        time_ms = math.floor(due)
        buyer_maker = rng.random() < 0.5
        self.price = max(self._tick, self._price_at(due) + round(rng.gauss(0, 2)) * self._tick)
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
        if self._to_invalidate:
            self._to_invalidate -= 1
            self.invalid_ids.add(trade.agg_id)
            return trade
        open_ms = time_ms - time_ms % MINUTE_MS
        minute = self._minutes.get(open_ms)
        if minute is None:
            minute = self._minutes[open_ms] = _Minute(price, price, price, price)
        minute.add(price, qty, raw, maker)
        return trade

    def _quote_book(self) -> BookQuote:
        rng = self._rng
        self._book_id += rng.randint(1, 5)
        below, spread = rng.randint(0, 2), rng.randint(1, 3)  # ticks
        bid = max(self._tick, self.price - min(below, spread) * self._tick)
        ask = bid + spread * self._tick
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
        """The kline of a minute, as ``GET /api/v3/klines`` lists it: before the history
        began, the past walk's; then its trades'. None for a minute that has not begun,
        or whose kline is no longer kept."""
        if open_ms < self._start_minute:
            return self._past.kline(open_ms)
        if open_ms > self._clock:
            return None
        minute = self._minutes.get(open_ms)
        if minute is None:
            if open_ms < self.first_minute():
                return None
            minute = _Minute(self.price, self.price, self.price, self.price)  # no trade yet
        return minute.row(open_ms)

    def first_minute(self) -> int:
        """Open time of the oldest minute whose kline the history still holds."""
        return next(iter(self._minutes), self._start_minute)
