"""Benchmark 5: web latency of the JSON API under 50 concurrent clients.

A worker fed by the simulated exchange (ticks keep flowing, as in production)
answers 50 aiohttp clients, each sending its next request as soon as the last is
answered, for ``seconds``; half ask ``/api/stats/{symbol}/``, half
``/api/prices/latest/``. Any answer other than 200, and any failed request, is an
error. One client alone, for the same time, gives the cost of a request without
queueing: with a closed loop of 50 clients, latency ≈ 50 / throughput.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from bench.harness import Figure, Worker, local_stack, percentile, symbols, wait_for
from cryptoflow.devstack.simexchange import SimExchangeThread

CLIENTS = 50
PATHS = {"stats": "/api/stats/{symbol}/", "latest": "/api/prices/latest/"}


def figures() -> dict[str, Figure]:
    found: dict[str, Figure] = {}
    for name, path in PATHS.items():
        found[f"{name}-p50"] = Figure(f"5. web p50 {path}, {CLIENTS} clients", "ms", digits=1)
        found[f"{name}-p99"] = Figure(f"5. web p99 {path}, {CLIENTS} clients", "ms", digits=1,
                                      target="< 10 ms")
    found["rps"] = Figure(f"5. web requests/s, {CLIENTS} clients", "req/s")
    found["errors"] = Figure(f"5. web errors, {CLIENTS} clients", "", target="0")
    found["single"] = Figure("5. web p50, 1 client (cost of one request)", "ms", digits=2)
    return found


def run(results: dict[str, Figure], workdir: Path, seconds: float) -> None:
    names = symbols(3)
    with local_stack() as stack, SimExchangeThread(names, seed=5) as exchange, Worker(
        stack, workdir / "web", CRYPTOFLOW_BINANCE_URL=exchange.url,
        CRYPTOFLOW_POLL_INTERVAL="1.0",
    ) as worker:
        base = f"http://127.0.0.1:{worker.web_port}"
        wait_for(lambda: asyncio.run(_all_answer(base, names)), 60, "stats for every symbol",
                 interval=0.5)
        loaded = asyncio.run(_load(base, names, CLIENTS, seconds))
        single = asyncio.run(_load(base, names, 1, seconds))
    for name in PATHS:
        results[f"{name}-p50"].add(percentile(loaded.latencies[name], 50))
        results[f"{name}-p99"].add(percentile(loaded.latencies[name], 99))
    results["rps"].add(loaded.requests / seconds)
    results["errors"].add(loaded.errors)
    results["single"].add(percentile(single.latencies["stats"] + single.latencies["latest"], 50))


async def _all_answer(base: str, names: list[str]) -> bool:
    async with aiohttp.ClientSession() as session:
        for symbol in names:
            async with session.get(f"{base}/api/stats/{symbol}/") as response:
                if response.status != 200 or not (await response.json())["count"]:
                    return False
    return True


class _Load:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {name: [] for name in PATHS}
        self.requests = 0
        self.errors = 0


async def _load(base: str, names: list[str], clients: int, seconds: float) -> _Load:
    load = _Load()
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)

    async def client(number: int) -> None:
        i = number
        while time.monotonic() < deadline:
            name = "stats" if i % 2 else "latest"
            url = base + PATHS[name].format(symbol=names[i % len(names)])
            i += 1
            started = time.perf_counter()
            try:
                async with session.get(url) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            load.latencies[name].append((time.perf_counter() - started) * 1000)
            load.requests += 1
            load.errors += not ok

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(n) for n in range(clients)))
    return load
