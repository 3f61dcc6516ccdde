"""Window bounds and retention, as the API reports them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import PriceTick
from cryptoflow.tables.windows import WINDOWS, WindowSpec

moments = st.datetimes(  # hypothesis takes naive bounds and adds the zone itself
    min_value=datetime(2017, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(moments, st.sampled_from(list(WINDOWS.values())))
def test_the_window_contains_the_instant_and_is_aligned(at: datetime, spec: WindowSpec) -> None:
    start, end = spec.bounds(at)
    assert start <= at < end
    assert end - start == spec.size
    assert start.timestamp() % spec.size.total_seconds() == 0


def test_retention_follows_the_newest_event_time() -> None:
    spec = WINDOWS["1m"]
    latest = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert spec.retains(latest - timedelta(minutes=59), latest)
    assert not spec.retains(latest - timedelta(minutes=61), latest)


@given(st.lists(moments, max_size=30), st.sampled_from(list(WINDOWS.values())))
def test_split_puts_every_tick_in_the_window_that_holds_it(
    times: list[datetime], spec: WindowSpec,
) -> None:
    ticks = [PriceTick(symbol="BTCUSDT", price=1.0 + i, ts=ts) for i, ts in enumerate(times)]
    groups = spec.split(ticks)
    assert sorted(t.price for group in groups.values() for t in group) == [t.price for t in ticks]
    for start, group in groups.items():
        assert all(spec.bounds(t.ts)[0] == start for t in group)
        assert group == sorted(group, key=ticks.index)  # order kept
