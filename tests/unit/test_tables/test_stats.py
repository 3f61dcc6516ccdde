"""RollingStats against Python's statistics module, on random price sequences."""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import MAX_PRICE, MIN_PRICE, PriceTick
from cryptoflow.tables.stats import RollingStats, ticks_to_count

T0 = datetime(2026, 11, 24, tzinfo=UTC)

prices = st.floats(min_value=1e-8, max_value=1e9, allow_nan=False, allow_infinity=False)


def ticks(values: list[float], offsets: list[int] | None = None) -> list[PriceTick]:
    offsets = offsets if offsets is not None else list(range(len(values)))
    return [
        PriceTick(symbol="BTCUSDT", price=p, ts=T0 + timedelta(milliseconds=o))
        for p, o in zip(values, offsets, strict=True)
    ]


def accumulate(values: list[PriceTick]) -> RollingStats:
    stats = RollingStats()
    for tick in values:
        stats += tick
    return stats


@given(st.lists(prices, min_size=1, max_size=200))
def test_matches_the_statistics_module(values: list[float]) -> None:
    stats = accumulate(ticks(values))
    assert stats.count == len(values)
    assert stats.low == min(values)
    assert stats.high == max(values)
    assert math.isclose(stats.mean, statistics.fmean(values), rel_tol=1e-9)
    assert math.isclose(stats.stddev, statistics.pstdev(values), rel_tol=1e-6,
                        abs_tol=1e-9 * max(values))
    assert stats.open == values[0]
    assert stats.close == values[-1]
    assert math.isclose(stats.change_pct, (values[-1] - values[0]) / values[0] * 100)


def test_one_tick_has_no_spread() -> None:
    stats = RollingStats() + ticks([67_000.5])[0]
    assert (stats.count, stats.mean, stats.stddev, stats.change_pct) == (1, 67_000.5, 0.0, 0.0)
    assert stats.summary()["min"] == stats.summary()["max"] == 67_000.5


def test_large_magnitudes_with_tiny_moves_keep_their_variance() -> None:
    values = [1e9 + x for x in (0.001, 0.002, 0.003, 0.004)]
    stats = accumulate(ticks(values))
    assert math.isclose(stats.stddev, statistics.pstdev(values), rel_tol=1e-4)


@given(
    st.lists(st.tuples(prices, st.integers(0, 59_999)), min_size=1, max_size=50,
             unique_by=lambda t: t[1]),
)
def test_open_and_close_follow_event_time_not_arrival(pairs: list[tuple[float, int]]) -> None:
    values, offsets = [p for p, _ in pairs], [o for _, o in pairs]
    stats = accumulate(ticks(values, offsets))
    assert stats.open == values[offsets.index(min(offsets))]
    assert stats.close == values[offsets.index(max(offsets))]
    assert stats.open_ts == T0 + timedelta(milliseconds=min(offsets))


def test_adding_returns_a_new_value_and_survives_serialisation() -> None:
    empty = RollingStats()
    one = empty + ticks([10.0])[0]
    assert empty.count == 0
    assert one.count == 1
    assert RollingStats.loads(one.dumps()) == one
    assert RollingStats.loads(empty.dumps()).summary()["mean"] is None


@given(st.lists(prices, min_size=0, max_size=60), st.lists(prices, min_size=0, max_size=60),
       st.randoms(use_true_random=False))
def test_merging_two_parts_equals_adding_every_tick(
    first: list[float], second: list[float], rng: random.Random,
) -> None:
    """A batch's statistics merged into a window equal the ticks added one by one, in
    whatever order the two parts' ticks interleave in time."""
    everything = ticks(first + second, rng.sample(range(1000), len(first) + len(second)))
    one_by_one = accumulate(everything)
    merged = RollingStats.of(everything[:len(first)]) + RollingStats.of(everything[len(first):])
    assert merged.count == one_by_one.count
    assert (merged.low, merged.high) == (one_by_one.low, one_by_one.high)
    assert (merged.open, merged.open_ts) == (one_by_one.open, one_by_one.open_ts)
    assert (merged.close, merged.close_ts) == (one_by_one.close, one_by_one.close_ts)
    if everything:
        top = max(first + second)
        assert math.isclose(merged.mean, one_by_one.mean, rel_tol=1e-9)
        assert math.isclose(merged.stddev, one_by_one.stddev, rel_tol=1e-6, abs_tol=1e-9 * top)


def test_ticks_stored_before_count_only_when_newer_than_the_newest_counted() -> None:
    a, b, c, d = ticks([1.0, 2.0, 3.0, 4.0])
    # New ticks always count; a second copy of a counted tick does not; a tick stored
    # before but never forwarded (newer than all counted) does.
    assert ticks_to_count([(a, False), (b, False), (a, True), (c, True)], None) == [a, b, c]
    assert ticks_to_count([(b, True), (c, True), (d, False)], b.ts) == [c, d]
    assert ticks_to_count([(c, True), (c, True)], None) == [c]
    assert ticks_to_count([(a, False)], d.ts) == [a]  # new but late: still counted


@given(st.lists(st.floats(min_value=MIN_PRICE, max_value=MAX_PRICE), min_size=1, max_size=100))
def test_prices_within_the_bounds_keep_every_statistic_finite(values: list[float]) -> None:
    summary = RollingStats.of(ticks(values)).summary()
    assert all(math.isfinite(v) for v in summary.values() if isinstance(v, float)), summary
