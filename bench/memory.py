"""Benchmark 6 (second figure): worker memory with 200 symbols polled every 0.5 s.

200 symbols are 200 topics, 200 collections and 200 keys in every table; the
windowed tables are bounded by ``expires``, so memory should level off. The
figure is the worker's peak RSS (VmHWM) after ``seconds`` of polling, and the
number of ticks it stored meanwhile, to show the load was real.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench.harness import Figure, Worker, local_stack, symbols
from cryptoflow.devstack.simexchange import SimExchangeThread
from cryptoflow.settings import topic_name

SYMBOLS = 200


def figures() -> dict[str, Figure]:
    return {
        "peak": Figure(f"6. worker peak RSS, {SYMBOLS} symbols every 0.5 s", "MB",
                       target="< 200 MB"),
        "stored": Figure(f"6. ticks stored meanwhile ({SYMBOLS} symbols)", "ticks"),
    }


def run(results: dict[str, Figure], workdir: Path, seconds: float) -> None:
    names = symbols(SYMBOLS)
    with local_stack() as stack, SimExchangeThread(names, seed=11) as exchange, Worker(
        stack, workdir / "memory", CRYPTOFLOW_SYMBOLS=",".join(names),
        CRYPTOFLOW_POLL_INTERVAL="0.5", CRYPTOFLOW_BINANCE_URL=exchange.url,
    ) as worker:
        time.sleep(seconds)
        _, peak = worker.memory()
        client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
        try:
            stored = sum(client["fx"][topic_name(s)].estimated_document_count() for s in names)
        finally:
            client.close()
    results["peak"].add(peak)
    results["stored"].add(stored)
