"""The query commands' arithmetic and tables."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow.commands import consecutive_jumps, describe, jumps_report, render, window_stats
from cryptoflow.sources.backfill import MINUTE, Coverage

T0 = datetime(2026, 11, 24, tzinfo=UTC)


def test_window_stats() -> None:
    assert window_stats([3.0, 1.0, 2.0]) == {"count": 3, "min": 1.0, "max": 3.0, "avg": 2.0}
    assert window_stats([]) == {"count": 0, "min": None, "max": None, "avg": None}


def test_consecutive_jumps_beyond_the_threshold_only() -> None:
    ticks = [(100.0, T0), (101.0, T0 + timedelta(seconds=3)), (95.0, T0 + timedelta(seconds=6)),
             (95.5, T0 + timedelta(seconds=9))]
    (jump,) = consecutive_jumps(ticks, 0.01)
    assert (jump["from_price"], jump["to_price"]) == (101.0, 95.0)
    assert jump["change_pct"] == pytest.approx(-5.940594)
    assert jump["ts"] == "2026-11-24T00:00:06.000Z"
    assert consecutive_jumps(ticks[:1], 0.01) == []


def test_render_as_table_and_json() -> None:
    rows = [{"symbol": "BTCUSDT", "price": 67234.5, "ts": None}]
    assert render(rows, as_json=False).splitlines() == [
        "symbol   price      ts", "BTCUSDT  67,234.50   -"]
    assert json.loads(render(rows, as_json=True)) == rows
    assert render([], as_json=False) == "(nothing stored yet)"


def test_jumps_says_whether_ticks_are_stored_or_none_jumped() -> None:
    calm = [(100.0, T0), (100.5, T0 + timedelta(seconds=3))]
    assert jumps_report("BTCUSDT", [], 0.01, as_json=False) == "(nothing stored yet)"
    assert jumps_report("BTCUSDT", calm, 0.01, as_json=False) == (
        "no jumps beyond 1.00% in the 2 stored tick(s) of BTCUSDT")
    assert json.loads(jumps_report("BTCUSDT", calm, 0.01, as_json=True)) == []


def test_change_pct_has_two_decimals_in_every_row() -> None:
    ticks = [(100.0, T0), (100.5, T0 + timedelta(seconds=3)),
             (103.0, T0 + timedelta(seconds=6)), (103.0 * 0.98, T0 + timedelta(seconds=9))]
    lines = jumps_report("BTCUSDT", ticks, 0.0, as_json=False).splitlines()
    assert lines[0].split()[-1] == "change_pct"
    assert [line.split()[-1] for line in lines[1:]] == ["0.50", "2.49", "-2.00"]


def test_json_output_has_null_for_a_number_that_is_not_finite() -> None:
    text = render([{"symbol": "BTCUSDT", "change_pct": math.inf}], as_json=True)
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == [
        {"symbol": "BTCUSDT", "change_pct": None}]
def test_the_backfill_line_says_what_the_range_holds() -> None:
    start = datetime(2026, 12, 1, 15, 3, tzinfo=UTC)
    full = Coverage(minutes=120, written=118, covered=120)
    assert describe("BTCUSDT", full, 2.0) == (
        "BTCUSDT: candles_1m: 118 minute(s) written in 2.0s (59/s); "
        "the range now has candles for 120 of 120 minutes")
    halts = [(start + 2 * n * MINUTE, start + (2 * n + 1) * MINUTE) for n in range(12)]
    holed = describe("BTCUSDT", Coverage(minutes=120, written=96, covered=108,
                                         unavailable=halts), 1.0)
    assert holed.endswith("minutes the exchange had no kline for: "
                          "2026-12-01T15:03:00.000Z to 2026-12-01T15:04:00.000Z (1), "
                          + ", ".join(f"{h[0]:%Y-%m-%dT%H:%M}:00.000Z to "
                                      f"{h[1]:%Y-%m-%dT%H:%M}:00.000Z (1)" for h in halts[1:10])
                          + " and 2 more span(s)")
