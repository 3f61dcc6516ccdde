"""1-minute candles from the stored ticks: one per closed minute, equal to its ticks."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.database import Database

from tests.integration.conftest import WorkerProcess, job_runs, wait_for

Produce = Callable[[str, list[tuple[bytes | None, bytes | None]]], None]


def test_a_closed_minute_makes_exactly_one_candle_equal_to_its_ticks(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
    produce: Produce,
) -> None:
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0", CRYPTOFLOW_CANDLE_INTERVAL="1")
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    prices = [100.0, 103.5, 98.25, 101.0, 99.5]
    produce("sol", [
        (b"SOLUSDT", json.dumps({"symbol": "SOLUSDT", "price": price,
                                 "ts": (minute + timedelta(seconds=7 * i)).isoformat()}).encode())
        for i, price in enumerate(prices)
    ])
    wait_for(lambda: mongo["sol"].count_documents({}) == len(prices), what="ticks stored")
    candle = wait_for(lambda: mongo["candles_1m"].find_one({"start": minute}), what="candle")
    assert (candle["open"], candle["high"], candle["low"], candle["close"]) == (
        100.0, 103.5, 98.25, 99.5)
    assert candle["count"] == 5
    assert candle["mean"] == pytest.approx(statistics.fmean(prices))
    assert candle["stddev"] == pytest.approx(statistics.pstdev(prices))
    assert candle["end"] == minute + timedelta(minutes=1)

    worker.stop()
    worker.start()
    runs = job_runs(worker, "candles_1m")
    wait_for(lambda: job_runs(worker, "candles_1m") >= runs + 2, what="two more runs")
    assert mongo["candles_1m"].count_documents({"symbol": "SOLUSDT"}) == 1
    assert mongo["candles_1m"].find_one({"start": minute}) == candle
