"""The simulated market's history: ids, times, books and klines, whatever the steps."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptoflow.devstack.market import MINUTE_MS, VOLATILITY, AggTrade, SymbolMarket

START_MS = 1_800_000_017_345  # mid-minute, as a real start would be


def market(rate: float = 20.0, retention: int = 100_000, seed: int = 5) -> SymbolMarket:
    return SymbolMarket("BTCUSDT", 67_000.0, START_MS, seed=seed, trade_rate=rate,
                        book_rate=5.0, retention=retention)


def run(sim: SymbolMarket, steps: list[int], now: int = START_MS) -> list[AggTrade]:
    trades = []
    for step in steps:
        now += step
        trades += sim.advance(now)[0]
    return trades


def aggregate(trades: list[dict[str, Any]]) -> list[Any]:
    """A minute's kline from its aggTrades items, summed with Decimal, on its own."""
    with localcontext() as context:
        context.prec = 60
        prices = [Decimal(t["p"]) for t in trades]
        quantities = [Decimal(t["q"]) for t in trades]
        eighth = Decimal("1e-8")
        buy = [(p, q) for p, q, t in zip(prices, quantities, trades, strict=True) if not t["m"]]
        return [f"{prices[0]:.8f}", f"{max(prices):.8f}", f"{min(prices):.8f}",
                f"{prices[-1]:.8f}", f"{sum(quantities):.8f}",
                f"{sum(p * q for p, q in zip(prices, quantities, strict=True)).quantize(eighth):f}",
                sum(t["l"] - t["f"] + 1 for t in trades), f"{sum(q for _, q in buy):.8f}",
                f"{sum((p * q for p, q in buy), Decimal(0)).quantize(eighth):f}"]


steps = st.lists(st.integers(min_value=1, max_value=7_000), min_size=1, max_size=60)


@settings(max_examples=40, deadline=None)
@given(steps)
def test_the_history_does_not_depend_on_how_time_is_cut(cuts: list[int]) -> None:
    total = sum(cuts)
    assert run(market(), cuts) == run(market(), [total])


@settings(max_examples=40, deadline=None)
@given(steps, st.floats(min_value=0.5, max_value=300))
def test_ids_are_consecutive_and_times_ordered(cuts: list[int], rate: float) -> None:
    trades = run(market(rate), cuts)
    for before, after in itertools.pairwise(trades):
        assert after.agg_id == before.agg_id + 1
        assert after.first_id == before.last_id + 1
        assert after.time_ms >= before.time_ms
    assert all(1 <= t.last_id - t.first_id + 1 <= 3 and t.qty > 0 and t.price > 0
               for t in trades)


def test_bursts_quiet_seconds_shared_milliseconds_and_a_trade_on_every_minute() -> None:
    sim = market(rate=5.0)
    trades = run(sim, [50] * (20 * 600))  # ten minutes in 50 ms steps
    per_second = Counter(t.time_ms // 1000 for t in trades)
    seconds = range(START_MS // 1000, (START_MS + 600_000) // 1000)
    counts = [per_second.get(s, 0) for s in seconds]
    assert counts.count(0) > 30  # quiet seconds
    assert max(counts) > 4 * 5  # bursts
    assert 0.7 * 5 < len(trades) / 600 < 1.3 * 5  # the mean rate asked for
    assert max(Counter(t.time_ms for t in trades).values()) >= 3
    boundaries = {t.time_ms for t in trades if t.time_ms % MINUTE_MS == 0}
    first = START_MS // MINUTE_MS * MINUTE_MS + MINUTE_MS
    assert boundaries == set(range(first, START_MS + 600_000, MINUTE_MS))


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    assert run(market(seed=1), [10_000]) == run(market(seed=1), [10_000])
    assert run(market(seed=1), [10_000]) != run(market(seed=2), [10_000])


def test_book_updates_have_bid_below_ask_and_rising_ids() -> None:
    sim = market()
    books = []
    for i in range(1, 400):
        books += sim.advance(START_MS + 100 * i)[1]
    assert len(books) > 100
    assert all(b.bid < b.ask and b.bid_qty > 0 and b.ask_qty > 0 for b in books)
    assert all(a.update_id < b.update_id for a, b in itertools.pairwise(books))


def test_only_the_retention_is_kept_and_queries_answer_from_it() -> None:
    sim = market(rate=50.0, retention=300)
    trades = run(sim, [100] * 300)
    kept = sim.trades()
    assert len(trades) > 600
    assert kept == trades[-300:]
    assert sim.oldest_id == kept[0].agg_id
    assert sim.from_id(trades[0].agg_id, 5) == kept[:5]  # older than kept: from the oldest
    assert sim.from_id(kept[10].agg_id, 3) == kept[10:13]
    assert sim.from_id(sim.next_agg_id, 5) == []
    middle = kept[150].time_ms
    assert sim.between(middle, middle + 500, 1000) == [
        t for t in kept if middle <= t.time_ms <= middle + 500]
    assert sim.between(None, middle, 4) == [t for t in kept if t.time_ms <= middle][-4:]
    assert sim.latest(2) == kept[-2:]


@settings(max_examples=25, deadline=None)
@given(steps, st.floats(min_value=0.01, max_value=100))
def test_klines_of_closed_minutes_equal_an_aggregation_of_their_trades(
    cuts: list[int], rate: float,
) -> None:
    sim = market(rate)
    trades = [t.rest() for t in run(sim, [*cuts, 3 * MINUTE_MS])]
    clock = START_MS + sum(cuts) + 3 * MINUTE_MS
    open_ms = sim.first_minute()
    last_price = None
    while open_ms + MINUTE_MS <= clock:
        row = sim.kline(open_ms)
        assert row is not None
        minute = [t for t in trades if open_ms <= t["T"] < open_ms + MINUTE_MS]
        assert row[0] == open_ms and row[6] == open_ms + MINUTE_MS - 1 and row[11] == "0"
        if minute:
            assert row[1:6] + row[7:11] == aggregate(minute)
            last_price = minute[-1]["p"]
        else:  # no trade: the previous close, nothing traded
            assert row[1] == row[2] == row[3] == row[4] != ""
            assert last_price is None or row[4] == last_price
            assert (row[5], row[8]) == ("0.00000000", 0)
        open_ms += MINUTE_MS
    assert sim.kline(clock - clock % MINUTE_MS + MINUTE_MS) is None  # not begun


def test_a_quiet_spell_has_no_trades_and_its_minutes_still_get_klines() -> None:
    sim = market(rate=50.0)
    before = sim.advance(START_MS + 10_000)[0]
    quiet_until = START_MS + 10_000 + 2 * MINUTE_MS
    sim.quiet(quiet_until)
    during, books = sim.advance(quiet_until - 1)
    after = sim.advance(quiet_until + 10_000)[0]
    assert before and after and during == []
    assert books  # the book goes on
    assert after[0].agg_id == before[-1].agg_id + 1  # one history, no id skipped
    assert after[0].time_ms >= quiet_until
    silent = START_MS + 10_000 + MINUTE_MS
    row = sim.kline(silent - silent % MINUTE_MS)  # a whole minute without trades
    assert row is not None and row[8] == 0


def test_a_flood_multiplies_the_trading_and_stays_one_history() -> None:
    """Over the same ten minutes, a flood of factor 20 makes many times the trades of the
    same seed without it, with ids still consecutive; after it the rate is back."""
    calm, flooded = market(rate=5.0), market(rate=5.0)
    flooded.flood(START_MS + 10 * MINUTE_MS, 20.0)
    ten_minutes = [calm.advance(START_MS + 10 * MINUTE_MS)[0],
                   flooded.advance(START_MS + 10 * MINUTE_MS)[0]]
    assert len(ten_minutes[1]) > 8 * len(ten_minutes[0])
    ids = [trade.agg_id for trade in ten_minutes[1]]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    later = flooded.advance(START_MS + 40 * MINUTE_MS)[0]
    assert len(later) < 3 * len(calm.advance(START_MS + 40 * MINUTE_MS)[0])


def test_book_updates_straddle_the_last_trade() -> None:
    sim = market()
    checked = 0
    for now in range(START_MS + 1, START_MS + 20_000):  # 1 ms steps: books apart from trades
        trades, books = sim.advance(now)
        if books and not trades:
            assert all(b.bid <= sim.price <= b.ask for b in books)
            checked += len(books)
    assert checked > 50


def day_of_klines(sim: SymbolMarket, first: int) -> list[float]:
    """The closes of the 1440 minutes from ``first``."""
    rows = [sim.kline(first + n * MINUTE_MS) for n in range(24 * 60)]
    return [float(row[4]) for row in rows if row is not None]


def moves_bp(closes: list[float]) -> list[float]:
    return [abs(math.log(b / a)) * 10_000 for a, b in itertools.pairwise(closes)]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("when", ["live", "backfilled"])
def test_volatility_at_one_minute_and_one_hour(seed: int, when: str) -> None:
    """Over a day of BTCUSDT, live or before the history began: the median 1-minute move
    is 1.5 to 8 basis points; by the median 1-minute move within each hour, the quietest
    hour is below 3 bp and the busiest above 6 bp; the median 1-hour move is 10 to 150 bp
    (moves are absolute log returns)."""
    sim = SymbolMarket("BTCUSDT", 67_000.0, START_MS, seed=seed, trade_rate=0.05, book_rate=0.0,
                       retention=100_000)
    start = START_MS - START_MS % MINUTE_MS
    if when == "live":
        sim.advance(START_MS + 25 * 60 * MINUTE_MS)
        closes = day_of_klines(sim, start + MINUTE_MS)
    else:
        closes = day_of_klines(sim, start - 24 * 60 * MINUTE_MS)
    assert len(closes) == 24 * 60
    minutes = moves_bp(closes)
    assert 1.5 < statistics.median(minutes) < 8
    hours = [statistics.median(minutes[h * 60:(h + 1) * 60 - 1]) for h in range(24)]
    assert min(hours) < 3 < 6 < max(hours)
    assert 10 < statistics.median(moves_bp(closes[::60])) < 150


@pytest.mark.parametrize("seed", range(5))
def test_a_flash_move_trips_the_jump_alerts_in_the_first_quarter_hour_not_the_first_three_minutes(
    seed: int,
) -> None:
    """Sampled every 3 s, as the worker polls the ticker, the last trade moves by more
    than 2 % (CRYPTOFLOW_JUMP_THRESHOLD's default) between two samples between 3 and 15
    minutes after the history began."""
    sim = market(rate=5.0, seed=seed)
    samples = []
    for now in range(START_MS, START_MS + 15 * MINUTE_MS, 3_000):
        sim.advance(now)
        samples.append((now, sim.price))
    jumps = [now for (_, before), (now, after) in itertools.pairwise(samples)
             if abs(after / before - 1) > 0.02]
    assert jumps and min(jumps) > START_MS + 3 * MINUTE_MS


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=0, max_value=MINUTE_MS - 1))
def test_backfilled_klines_join_the_first_live_minute(seed: int, second: int) -> None:
    """The minutes before the history began are a continuous walk (each opens at the
    previous close, between its low and high) whose last close is within one minute's
    typical move (VOLATILITY) of the first live minute's open; and it moves."""
    start = START_MS - START_MS % MINUTE_MS + second
    sim = SymbolMarket("BTCUSDT", 67_000.0, start, seed=seed, trade_rate=5.0, book_rate=5.0,
                       retention=10_000)
    sim.advance(start + MINUTE_MS)
    first = sim.first_minute()
    live = sim.kline(first)
    before = [sim.kline(first - n * MINUTE_MS) for n in range(120, 0, -1)]
    assert live is not None and all(row is not None for row in before)
    assert abs(math.log(float(live[1]) / float(before[-1][4]))) <= VOLATILITY
    assert all(a[4] == b[1] for a, b in itertools.pairwise(before))
    assert all(float(row[3]) <= float(row[n]) <= float(row[2]) for row in before for n in (1, 4))
    assert statistics.median(moves_bp([float(row[4]) for row in before])) > 1


def test_trades_marked_invalid_keep_their_ids_and_count_in_no_kline() -> None:
    """Binance's invalid aggregate trades are duplicates of other trades: a kline is the
    aggregation of the valid trades of its minute only."""
    sim = market(40.0)
    trades = run(sim, [MINUTE_MS // 2])
    sim.invalidate(5)
    trades += run(sim, [2 * MINUTE_MS], now=START_MS + MINUTE_MS // 2)
    invalid = sim.invalid_ids
    assert len(invalid) == 5
    assert sorted(invalid) == list(range(min(invalid), min(invalid) + 5))  # the next five
    assert [t.agg_id for t in trades] == list(range(trades[0].agg_id, trades[-1].agg_id + 1))
    open_ms = min(t.time_ms for t in trades if t.agg_id in invalid)
    open_ms -= open_ms % MINUTE_MS
    row = sim.kline(open_ms)
    assert row is not None
    valid = [t.rest() for t in trades if open_ms <= t.time_ms < open_ms + MINUTE_MS
             and t.agg_id not in invalid]
    assert row[1:6] + row[7:11] == aggregate(valid)



def test_an_unseeded_market_started_later_goes_on_above_its_earlier_ids() -> None:
    """make demo's exchange is unseeded: started again later (the demo's database keeps
    the trades of the earlier run), its ids go on above the ones it gave before."""
    earlier = SymbolMarket("BTCUSDT", 67_000.0, START_MS, seed=None, trade_rate=50.0,
                           book_rate=0.0, retention=100_000)
    last = run(earlier, [10 * MINUTE_MS])[-1].agg_id
    later = SymbolMarket("BTCUSDT", 67_000.0, START_MS + 10 * MINUTE_MS + 1, seed=None,
                         trade_rate=50.0, book_rate=0.0, retention=100_000)
    first = run(later, [MINUTE_MS], now=START_MS + 10 * MINUTE_MS + 1)[0].agg_id
    assert first > last
