"""Fault drills: whatever fails on the way, every tick the exchange served (or a
producer sent) is stored exactly once or set aside as a dead letter with its reason.

1. Binance faults          test_drill_1_binance_faults
2. MongoDB outage          test_drill_2_database_outage
3. Worker SIGKILL          test_drill_3_worker_killed
4. Broker restart          test_drill_4_broker_restart
5. Poison records          test_drill_5_poison_records
6. Bad web requests        test_drill_6_bad_web_requests
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import Fault, SimExchangeThread
from tests.integration.conftest import (
    WorkerProcess,
    assert_accounted_for,
    get,
    served,
    stop_serving,
    wait_for,
)

Produce = Callable[[str, list[tuple[bytes | None, bytes | None]]], None]


def tick(symbol: str, price: float, ts: datetime) -> tuple[bytes, bytes]:
    body = {"symbol": symbol, "price": price, "ts": ts.isoformat()}
    return symbol.encode(), json.dumps(body).encode()


def test_drill_1_binance_faults(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess],
    mongo: Database[dict[str, Any]],
) -> None:
    worker = start_worker(CRYPTOFLOW_HTTP_TIMEOUT="1", CRYPTOFLOW_BINANCE_BACKOFF_CAP="1")
    wait_for(lambda: len(exchange.sim.served) >= 3, what="a first poll")
    exchange.sim.inject(
        Fault.status(429, retry_after=2), Fault.status(418, retry_after=2),
        Fault.status(500), Fault.status(502), Fault.status(503), Fault.delay(2.0),
        Fault.truncated(), Fault.wrong_shape(), Fault.api_error(-1121, "Invalid symbol."),
    )
    faults = len(exchange.sim.requests)
    wait_for(lambda: any(r.fault is None for r in exchange.sim.requests[faults + 9:]),
             timeout=40, what="polling resumed after the faults")
    time.sleep(1.5)  # a few healthy polls
    stop_serving(exchange)
    assert worker.running
    assert exchange.sim.violations == []  # nothing sent inside a Retry-After

    log = [line.split("] ", 3)[-1] for line in worker.log().splitlines() if "Binance:" in line]
    kinds = [line.split(":")[1].strip() for line in log if "(will keep polling)" in line]
    assert kinds == ["rate_limited", "banned", "server_error", "timeout", "bad_response",
                     "api_error"], log
    assert sum("prices flow again" in line for line in log) == 1, log
    assert not any("no longer polled" in line for line in log), log
    assert_accounted_for(mongo, served(exchange))


def test_drill_2_database_outage(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess],
    stack: LocalStack, mongo: Database[dict[str, Any]],
) -> None:
    worker = start_worker()
    wait_for(lambda: len(exchange.sim.served) >= 3 * 3, what="three polls")
    stack.stop_mongo()
    outage = len(exchange.sim.served)
    wait_for(lambda: get(worker, "/api/health/")[0] == 503, what="health reports it")
    assert get(worker, "/api/health/")[1]["failing"] == ["database"]
    time.sleep(20)
    assert len(exchange.sim.served) > outage + 3 * 20  # ticks kept coming meanwhile
    stack.start_mongo()
    wait_for(lambda: get(worker, "/api/health/")[0] == 200, what="health back to 200")
    stop_serving(exchange)
    assert_accounted_for(mongo, served(exchange))
    assert worker.running
    assert "Traceback" not in worker.log()


def test_drill_3_worker_killed(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
    produce: Produce,
) -> None:
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    records = [tick("ETHUSDT", 3000 + i / 100, start + timedelta(milliseconds=i))
               for i in range(600)]
    sender = threading.Thread(
        target=lambda: [produce("eth", records[i:i + 20]) for i in range(0, 600, 20)])
    sender.start()
    wait_for(lambda: mongo["eth"].count_documents({}) >= 100, what="100 stored")
    worker.kill()  # SIGKILL mid-stream
    sender.join()
    # The restart waits out the killed member's session (about 20 s to Ready here);
    # the local broker may run one more rebalance after that, hence the longer wait.
    worker.start()
    assert_accounted_for(mongo, Counter(("ETHUSDT", 3000 + i / 100) for i in range(600)),
                         timeout=90, worker=worker)


def test_drill_4_broker_restart(
    start_worker: Callable[..., WorkerProcess], stack: LocalStack,
) -> None:
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    stack.stop_broker()
    stack.start_broker()  # memory-only: it comes back without any topic
    assert worker.process is not None
    code = worker.process.wait(timeout=90)
    assert code != 0
    assert "broker lost its topics" in worker.log()


def test_drill_5_poison_records(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
    produce: Produce,
) -> None:
    start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    ts = datetime.now(UTC) - timedelta(minutes=1)
    poison: list[bytes] = [
        b"\x00\xff\xfe not even text",
        b"[1, 2, 3]",
        b'{"symbol": "BTCUSDT", "ts": "2026-01-01T00:00:00Z"}',
        json.dumps({"symbol": "BTCUSDT", "price": 0, "ts": ts.isoformat()}).encode(),
        json.dumps({"symbol": "BTCUSDT", "price": -5, "ts": ts.isoformat()}).encode(),
        b'{"symbol": "BTCUSDT", "price": NaN, "ts": "2026-01-01T00:00:00Z"}',
        b'{"symbol": "BTCUSDT", "price": Infinity, "ts": "2026-01-01T00:00:00Z"}',
        json.dumps({"symbol": "BTCUSDT", "price": 1, "ts": ts.isoformat(),
                    "note": "x" * 1_000_000}).encode(),
        json.dumps({"symbol": "DOGEUSDT", "price": 0.1, "ts": ts.isoformat()}).encode(),
        json.dumps({"symbol": "BTCUSDT", "price": 1, "ts": 10**15}).encode(),
    ]
    good = [tick("BTCUSDT", 60_000 + i, ts + timedelta(milliseconds=i)) for i in range(11)]
    records: list[tuple[bytes | None, bytes | None]] = [good[0]]
    for i, value in enumerate(poison):
        records += [(b"BTCUSDT", value), good[i + 1]]
    produce("btc", records)

    assert_accounted_for(
        mongo, Counter(("BTCUSDT", 60_000.0 + i) for i in range(11)), Counter(poison),
    )
    reasons = {doc["reason"].split(":")[0] for doc in mongo["deadletters"].find()}
    assert len(reasons) >= 6, reasons
    assert all(doc["origin"].startswith("btc/") for doc in mongo["deadletters"].find())
    assert not math.isnan(mongo["btc"].find_one(sort=[("price", -1)])["price"])  # type: ignore[index]  # the drill stored ticks: there is one


def test_drill_6_bad_web_requests(start_worker: Callable[..., WorkerProcess]) -> None:
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    for path, method, status in [
        ("/api/", "GET", 404),
        ("/api/nope/", "GET", 404),
        ("/api/stats/NOPE/", "GET", 404),
        ("/api/stats/%00%ff/", "GET", 404),
        ("/api/stats/BTCUSDT/?window=1y", "GET", 400),
        ("/api/stats/BTCUSDT/?at=yesterday", "GET", 400),
        ("/api/stats/BTCUSDT/?at=1e999", "GET", 400),
        ("/api/stats/BTCUSDT/?window=" + "w" * 6000, "GET", 400),
        ("/api/" + "p/" * 2000, "GET", 404),
        ("/api/prices/latest/", "POST", 405),
        ("/api/health/", "DELETE", 405),
        ("/api/stats/BTCUSDT/", "PUT", 405),
        # digits that are not ASCII, and more digits than int() reads (were 500s or accepted)
        ("/api/alerts/?limit=%C2%B2", "GET", 400),
        ("/api/alerts/?limit=%D9%A3", "GET", 400),
        ("/api/prices/history/BTCUSDT/?minutes=%F0%9D%9F%97", "GET", 400),
        ("/api/prices/history/BTCUSDT/?minutes=" + "9" * 4301, "GET", 400),
        ("/api/alerts/?limit=" + "1" * 5000, "GET", 400),
    ]:
        code, body = get(worker, path, method)
        assert code == status, (path, method, code, body)
        assert body["error"]["status"] == status
    # faust's own router page for a table it does not have (was a plain-text 500)
    assert get(worker, "/router/nosuch/") == (404, {"error": "unknown table", "name": "nosuch"})
    assert get(worker, "/router/nosuch/BTCUSDT/")[0] == 404
    assert get(worker, "/api/prices/latest/")[0] == 200
    assert worker.running
