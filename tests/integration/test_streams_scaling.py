"""Streams spread over the workers: each symbol streamed by one worker, moved on a
rebalance, resumed without a gap when its worker dies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from pymongo.database import Database

from cryptoflow.devstack.simexchange import SimExchangeThread
from tests.integration.conftest import WorkerProcess, get, wait_for
from tests.integration.test_streams import STREAM_ENV, SYMBOLS, stored_ids

pytestmark = pytest.mark.integration


def streamed_by(worker: WorkerProcess) -> dict[str, list[str]] | None:
    """Which worker streams which symbols, as ``/api/streams/`` of ``worker`` says."""
    status, body = get(worker, "/api/streams/")
    if status != 200 or any("error" in w for w in body["workers"]):
        return None
    return {w["worker"]: sorted(s for c in w["connections"] for s in c["symbols"]
                                if c["state"] == "connected")
            for w in body["workers"]}


def each_symbol_once(spread: dict[str, list[str]] | None, workers: int) -> bool:
    if spread is None or len(spread) != workers:
        return False
    counted = Counter(symbol for symbols in spread.values() for symbol in symbols)
    return sorted(counted) == sorted(SYMBOLS) and set(counted.values()) == {1}


def test_symbols_spread_over_workers_and_resume_when_one_dies(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
    exchange: SimExchangeThread,
) -> None:
    first = start_worker("first", **STREAM_ENV)
    wait_for(lambda: all(stored_ids(mongo, s) for s in SYMBOLS), timeout=40,
             what="trades of every symbol")
    second = start_worker("second", **STREAM_ENV)
    spread = wait_for(lambda: (s := streamed_by(first)) and each_symbol_once(s, 2) and s,
                      timeout=60, what=lambda: f"symbols spread over two workers: "
                                               f"{streamed_by(first)}")
    assert all(spread.values()), spread  # both workers stream something
    assert streamed_by(second) == spread  # either worker tells the same

    second.kill()
    wait_for(lambda: each_symbol_once(streamed_by(first), 1), timeout=60,
             what=lambda: f"the first worker streaming every symbol: {streamed_by(first)}")

    wanted = {s: [t["a"] for t in exchange.sim.agg_trades(s)] for s in SYMBOLS}

    def missing() -> dict[str, int]:
        lost = {}
        for symbol in SYMBOLS:
            ids = set(stored_ids(mongo, symbol))
            count = sum(1 for i in wanted[symbol] if i >= min(ids) and i not in ids)
            if count:
                lost[symbol] = count
        return lost

    wait_for(lambda: not missing(), timeout=45,
             what=lambda: f"every trade stored: missing {missing()}\n{first.warnings()[-3000:]}")
    for symbol in SYMBOLS:
        ids = stored_ids(mongo, symbol)
        assert sorted(ids) == list(range(min(ids), max(ids) + 1)), symbol
        assert len(ids) == len(set(ids))
