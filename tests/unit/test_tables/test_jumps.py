"""The jump rule: strictly above the threshold, newer ticks only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import PriceTick
from cryptoflow.tables.jumps import jumps_in, price_jump

T0 = datetime(2026, 11, 24, tzinfo=UTC)


def tick(price: float, seconds: int) -> PriceTick:
    return PriceTick(symbol="BTCUSDT", price=price, ts=T0 + timedelta(seconds=seconds))


@pytest.mark.parametrize(("to_price", "alerts"), [
    (102.0, False), (97.99, True), (102.01, True), (100.0, False), (105.0, True), (98.0, False),
])
def test_only_moves_beyond_the_threshold_alert(to_price: float, alerts: bool) -> None:
    assert (price_jump(tick(100.0, 0), tick(to_price, 3), 0.02) is not None) == alerts


def test_the_alert_carries_both_ticks() -> None:
    alert = price_jump(tick(100.0, 0), tick(105.0, 3), 0.02)
    assert alert is not None
    assert (alert.from_price, alert.to_price) == (100.0, 105.0)
    assert alert.change_pct == pytest.approx(5.0)
    assert (alert.from_ts, alert.ts) == (T0, T0 + timedelta(seconds=3))
    assert alert.to_document()["_id"] == "BTCUSDT/2026-11-24T00:00:03.000Z"


def test_no_alert_without_a_newer_tick() -> None:
    assert price_jump(None, tick(100.0, 0), 0.02) is None
    assert price_jump(tick(100.0, 5), tick(200.0, 5), 0.02) is None  # redelivered
    assert price_jump(tick(100.0, 5), tick(200.0, 1), 0.02) is None  # out of order


def test_a_batch_is_checked_tick_after_tick_against_the_newest_before_it() -> None:
    ticks = [tick(105.0, 3), tick(300.0, 2), tick(105.5, 4), tick(100.0, 5)]
    alerts, newest = jumps_in(tick(100.0, 0), ticks, 0.02)
    # 100 -> 105 (up), the late 300 never alerts nor counts as previous, 105.5 -> 100 (down)
    assert [(a.from_price, a.to_price) for a in alerts] == [(100.0, 105.0), (105.5, 100.0)]
    assert newest == tick(100.0, 5)
    assert jumps_in(None, [], 0.02) == ([], None)


@given(st.lists(st.tuples(st.floats(1, 1e6), st.integers(0, 50)), max_size=30),
       st.integers(1, 29))
def test_a_batch_split_anywhere_gives_the_same_alerts(
    raw: list[tuple[float, int]], cut: int,
) -> None:
    """What a batch alerts does not depend on how the stream was cut into batches."""
    ticks = [tick(price, seconds) for price, seconds in raw]
    whole, last = jumps_in(None, ticks, 0.02)
    first, between = jumps_in(None, ticks[:cut], 0.02)
    second, after = jumps_in(between, ticks[cut:], 0.02)
    assert first + second == whole
    assert after == last
