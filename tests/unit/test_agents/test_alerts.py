"""Alerts go out before the previous tick moves past them (agents/alerts.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptoflow.agents.alerts import detect_jumps
from cryptoflow.records import PriceTick
from cryptoflow.tables.price_tables import previous_ticks


def test_detecting_jumps_leaves_the_previous_tick_for_after_the_alerts() -> None:
    """A stop between moving the previous tick on and publishing the alerts would read
    the batch again against a previous tick already past it: no alert, for good. So
    ``detect_jumps`` only says where the previous tick goes; the agent writes it after
    ``publish``."""
    start = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ticks = [PriceTick(symbol="BTCUSDT", price=price, ts=start + timedelta(seconds=n))
             for n, price in enumerate([100.0, 100.5, 120.0])]
    assert previous_ticks.get("BTCUSDT") is None
    alerts, previous = detect_jumps("BTCUSDT", ticks)
    assert [alert.to_price for alert in alerts] == [120.0]
    assert previous == ticks[-1]
    assert previous_ticks.get("BTCUSDT") is None  # not written yet
