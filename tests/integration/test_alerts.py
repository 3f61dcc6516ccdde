"""Price-jump alerts on real parts: one alert per jump, even across a restart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.database import Database

from cryptoflow.devstack.simexchange import Fault, SimExchangeThread
from tests.integration.conftest import WorkerProcess, get, wait_for


def test_a_five_percent_jump_makes_exactly_one_alert_each_way(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess],
    mongo: Database[dict[str, Any]],
) -> None:
    worker = start_worker()
    wait_for(lambda: len(exchange.sim.served) >= 6, what="two polls")
    last = [p for p in exchange.sim.served if p.symbol == "BTCUSDT"][-1]
    jumped = f"{float(last.price) * 1.05:.8f}"
    exchange.sim.inject(Fault.bad_price("BTCUSDT", jumped))
    # the walk goes on from where it was, so the next tick falls back: a second alert
    wait_for(lambda: mongo["alerts"].count_documents({}) == 2, what="up and back down")
    up, down = mongo["alerts"].find().sort("ts", 1)
    assert (up["symbol"], up["to_price"], down["from_price"]) == (
        "BTCUSDT", float(jumped), float(jumped))
    assert 4.5 < up["change_pct"] < 5.5
    assert -5.5 < down["change_pct"] < -4.0

    worker.stop()
    worker.start()  # the restarted worker reads its tables back and sees the same ticks
    polls = len(exchange.sim.served)
    wait_for(lambda: len(exchange.sim.served) >= polls + 9, what="three more polls")
    assert mongo["alerts"].count_documents({}) == 2
    status, body = get(worker, "/api/alerts/?symbol=btcusdt&limit=1")
    assert status == 200
    assert [(a["symbol"], a["from_price"]) for a in body] == [("BTCUSDT", float(jumped))]
    assert get(worker, "/api/alerts/?limit=0")[0] == 400
    assert get(worker, "/api/alerts/?since=never")[0] == 400
