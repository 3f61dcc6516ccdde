"""RollingStats against Python's statistics module, on random price sequences."""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import MAX_PRICE, MIN_PRICE, PriceTick
from cryptoflow.tables.stats import RollingStats, Sighting, uncounted

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


@given(st.lists(st.floats(min_value=MIN_PRICE, max_value=MAX_PRICE), min_size=1, max_size=100))
def test_prices_within_the_bounds_keep_every_statistic_finite(values: list[float]) -> None:
    summary = RollingStats.of(ticks(values)).summary()
    assert all(math.isfinite(v) for v in summary.values() if isinstance(v, float)), summary


def counted_once(window: RollingStats, batches: list[list[Sighting]]) -> RollingStats:
    """The window after each batch's uncounted ticks were merged into it (one write each)."""
    for batch in batches:
        window += uncounted(window, batch)
    return window


@st.composite
def redeliveries(draw: st.DrawFn) -> tuple[list[Sighting], list[list[Sighting]]]:
    """Ticks of a few source partitions (offsets with gaps, ts in any order), and a
    delivery of them as the statistics read it: each partition in offset order, but
    going back any number of times to an earlier offset (read again from where it
    was committed) and on from there, the partitions interleaved; cut into batches."""
    streams: dict[str, list[Sighting]] = {}
    for partition in range(draw(st.integers(1, 3))):
        source = f"btc/{partition}"
        values = draw(st.lists(st.tuples(prices, st.integers(1, 3), st.integers(0, 59_999)),
                               min_size=1, max_size=25))
        offsets = [sum(gap for _, gap, _ in values[:i + 1]) for i in range(len(values))]
        streams[source] = [
            Sighting(PriceTick(symbol="BTCUSDT", price=price,
                               ts=T0 + timedelta(milliseconds=millis)), source, offset)
            for (price, _, millis), offset in zip(values, offsets, strict=True)]
    rng = draw(st.randoms(use_true_random=False))
    delivered: list[Sighting] = []
    position = dict.fromkeys(streams, 0)
    while any(position[source] < len(streams[source]) for source in streams):
        source = rng.choice([s for s in streams if position[s] < len(streams[s])])
        if rng.random() < 0.1:  # read again from an earlier offset
            position[source] = rng.randint(0, position[source])
        delivered.append(streams[source][position[source]])
        position[source] += 1
    edges = [0, *sorted(rng.sample(range(len(delivered) + 1), min(8, len(delivered)))),
             len(delivered)]
    batches = [delivered[a:b] for a, b in pairwise(edges)]
    return [one for stream in streams.values() for one in stream], batches


@given(redeliveries())
def test_every_tick_counts_once_however_often_it_is_read_again(
    case: tuple[list[Sighting], list[list[Sighting]]],
) -> None:
    distinct, batches = case
    window = counted_once(RollingStats(), batches)
    expected = RollingStats.of(one.tick for one in distinct)
    assert window.count == len(distinct)
    assert (window.low, window.high) == (expected.low, expected.high)
    assert math.isclose(window.mean, expected.mean, rel_tol=1e-9)
    assert window.counted == {one.source: max(o.offset for o in distinct if o.source == one.source)
                              for one in distinct}
    assert RollingStats.loads(window.dumps()) == window  # the marks survive the changelog


def test_a_window_recovered_from_an_older_record_counts_what_it_lacks() -> None:
    """A crash may lose a window's newest changelog record; the ticks it held are read
    again from the last committed offset (at or before them) and counted then."""
    a, b, c, d = (Sighting(tick, "eth/1", offset)
                  for tick, offset in zip(ticks([1.0, 2.0, 3.0, 4.0]), (4, 5, 9, 10),
                                          strict=True))
    older = counted_once(RollingStats(), [[a, b]])
    newer = counted_once(older, [[c]])
    assert newer.count == 3
    recovered = counted_once(older, [[b, c], [d]])  # read again from b's offset
    assert recovered.count == 4
    assert recovered.counted == {"eth/1": 10}
    assert uncounted(recovered, [a, b, c, d]).count == 0
    assert uncounted(recovered, [Sighting(a.tick, "eth/2", 4)]).count == 1  # another partition
