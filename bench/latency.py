"""Benchmark 4: end-to-end latency, from the exchange serving a price to MongoDB showing it.

The simulated exchange stamps every price it serves (``ServedPrice.served_at``);
the benchmark polls two tick collections every 10 ms for documents newer than the
last it saw, notes when each became visible, and pairs it with the served price of
the same symbol and value. Every symbol takes the same path; polling more
collections, or more often, was seen to load the database it measures (five
collections every 5 ms doubled the 50-symbol latency). The first seconds after the
worker is ready are left out.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench.harness import Figure, Worker, local_stack, percentile, symbols
from cryptoflow.devstack.simexchange import SimExchangeThread
from cryptoflow.settings import topic_name

WATCHED = 2
WARM_UP = 3.0
OBSERVE_EVERY = 0.01


def figures() -> dict[str, Figure]:
    found: dict[str, Figure] = {}
    for case, target in (("default", "< 250 ms"), ("fast", "< 500 ms")):
        label = ("3 symbols, 3 s poll" if case == "default" else "50 symbols, 0.1 s poll")
        for q in (50, 95, 99):
            found[f"{case}-p{q}"] = Figure(
                f"4. end-to-end p{q}, {label}", "ms", target=target if q == 99 else "")
    return found


def run(results: dict[str, Figure], workdir: Path, case: str, seconds: float) -> None:
    count, poll = (3, "3.0") if case == "default" else (50, "0.1")
    names = symbols(count)
    latencies = _measure(workdir / f"latency-{case}", names, poll, seconds)
    for q in (50, 95, 99):
        results[f"{case}-p{q}"].add(percentile(latencies, q))


def _measure(workdir: Path, names: list[str], poll: str, seconds: float) -> list[float]:
    with local_stack() as stack, SimExchangeThread(names, seed=3) as exchange, Worker(
        stack, workdir, CRYPTOFLOW_SYMBOLS=",".join(names), CRYPTOFLOW_POLL_INTERVAL=poll,
        CRYPTOFLOW_BINANCE_URL=exchange.url,
    ):
        client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri, tz_aware=True)
        try:
            seen = _observe(client["fx"], names[:WATCHED], seconds + WARM_UP)
        finally:
            client.close()
        served = {(p.symbol, float(p.price)): p.served_at for p in exchange.sim.served}
    start = min(served.values()).timestamp() + WARM_UP
    return [
        (seen_at - served[key]).total_seconds() * 1000
        for key, seen_at in seen.items()
        if key in served and served[key].timestamp() >= start
    ]


def _observe(db: Any, watched: list[str], seconds: float) -> dict[tuple[str, float], datetime]:
    """When each new tick of the watched symbols became visible."""
    newest = {name: datetime(2000, 1, 1, tzinfo=UTC) for name in map(topic_name, watched)}
    seen: dict[tuple[str, float], datetime] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in newest:
            documents = list(db[name].find({"_id": {"$gt": newest[name]}},
                                           {"_id": 0, "symbol": 1, "price": 1, "ts": 1}))
            now = datetime.now(UTC)
            for doc in documents:
                seen.setdefault((doc["symbol"], doc["price"]), now)
                newest[name] = max(newest[name], doc["ts"])
        time.sleep(OBSERVE_EVERY)
    return seen
