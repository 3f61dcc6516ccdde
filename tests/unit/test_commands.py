"""The query commands' arithmetic and tables."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from cryptoflow.commands import (
    Target,
    consecutive_jumps,
    jumps_report,
    render,
    window_stats,
)
from cryptoflow.commands.backfill import describe
from cryptoflow.settings import Settings
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
    where = "database fx at mongodb://localhost:27017"
    assert describe("BTCUSDT", full, 2.0, where) == (
        "BTCUSDT: candles_1m: 118 minute(s) written to the database fx at "
        "mongodb://localhost:27017 in 2.0s (59/s); the range now has candles for 120 of 120 "
        "minutes")
    halts = [(start + 2 * n * MINUTE, start + (2 * n + 1) * MINUTE) for n in range(12)]
    holed = describe("BTCUSDT", Coverage(minutes=120, written=96, covered=108,
                                         unavailable=halts), 1.0, where)
    assert holed.endswith("minutes the exchange had no kline for: "
                          "2026-12-01T15:03:00.000Z to 2026-12-01T15:04:00.000Z (1), "
                          + ", ".join(f"{h[0]:%Y-%m-%dT%H:%M}:00.000Z to "
                                      f"{h[1]:%Y-%m-%dT%H:%M}:00.000Z (1)" for h in halts[1:10])
                          + " and 2 more span(s)")


SECRET_URI = "mongodb://reader:hunter2@db.example.com:27017"  # noqa: S105  (a test value)


def test_demo_means_the_database_and_exchange_of_make_demo() -> None:
    settings = Settings.from_env({"CRYPTOFLOW_MONGO_URI": SECRET_URI,
                                  "CRYPTOFLOW_MONGO_DB": "prices"}, env_file=None)
    configured = Target.of(settings, demo=False)
    assert (configured.mongo_uri, configured.database) == (SECRET_URI, "prices")
    assert configured.where() == "database prices at mongodb://reader:***@db.example.com:27017"
    demo = Target.of(settings, demo=True)
    assert (demo.mongo_uri, demo.database, demo.binance_url) == (
        "mongodb://127.0.0.1:27017", "fx_demo", "http://127.0.0.1:8081")


def test_a_database_failure_is_one_line_naming_it_and_what_to_check() -> None:
    target = Target(SECRET_URI, "fx", "https://api.binance.com", demo=False)
    line = target.failed(ServerSelectionTimeoutError("db.example.com:27017: timed out"))
    assert line == (
        "cryptoflow: the database fx at mongodb://reader:***@db.example.com:27017 did not "
        "answer within 5s; start the local stack with make run (or make demo, and add "
        "--demo), or set CRYPTOFLOW_MONGO_URI (--debug shows the traceback)")
    refused = target.failed(OperationFailure("Authentication failed."))
    assert refused == ("cryptoflow: the database fx at mongodb://reader:***@db.example.com:"
                       "27017 failed: OperationFailure: Authentication failed.")
    demo = Target("mongodb://127.0.0.1:27017", "fx_demo", "http://127.0.0.1:8081", demo=True)
    assert "make demo" in demo.failed(ServerSelectionTimeoutError("refused"))


def test_an_empty_result_says_where_it_looked_and_what_to_try() -> None:
    target = Target("mongodb://localhost:27017", "fx", "https://api.binance.com", demo=False)
    assert target.closing(found=True) == "read from the database fx at mongodb://localhost:27017"
    assert target.closing(found=False) == (
        "nothing stored in the database fx at mongodb://localhost:27017: is a worker "
        "recording into it (make run)? The demo's is in fx_demo: add --demo. Another "
        "database: set CRYPTOFLOW_MONGO_DB")
    configured_demo = Target("mongodb://127.0.0.1:27017", "fx_demo", "", demo=False)
    assert configured_demo.nothing_found().endswith(
        "is a worker recording into it (make run)? Another database: set CRYPTOFLOW_MONGO_DB")
    demo = Target("mongodb://127.0.0.1:27017", "fx_demo", "http://127.0.0.1:8081", demo=True)
    assert demo.nothing_found(" for BTCUSDT in that range") == (
        "nothing stored for BTCUSDT in that range in the database fx_demo at "
        "mongodb://127.0.0.1:27017: is the demo running (make demo)? make run's recording "
        "is read without --demo")
