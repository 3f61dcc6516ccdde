"""Benchmark 5: web latency of the JSON API under 50 concurrent clients, beside its ceiling.

A worker fed by the simulated exchange (ticks keep flowing, as in production)
answers 50 aiohttp clients, each sending its next request as soon as the last is
answered, for ``seconds`` per endpoint: ``/api/stats/{symbol}/`` (the three symbols
in turn), then ``/api/prices/latest/``. Any answer other than 200, and any failed
request, is an error. The ceiling: bare aiohttp handlers (``bench/bareweb.py``, a
process of its own like the worker) returning the bytes the worker answered on the
same paths, loaded by the same clients right after the worker, endpoint by endpoint,
so both meet the same machine. Before each endpoint the worker's CPU at rest is read
for a few seconds: the CPU per request less it is what the requests themselves cost.
One client alone, for the same time, gives the cost of a request without queueing:
with a closed loop of 50 clients, latency ≈ 50 / throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp

from bench.harness import (
    PYTHONPATH,
    BenchError,
    Figure,
    Worker,
    cpu_seconds,
    free_port,
    local_stack,
    percentile,
    stop_process,
    symbols,
    wait_for,
)
from cryptoflow.devstack.simexchange import SimExchangeThread

CLIENTS = 50
REST_SECONDS = 3.0
PATHS = {"stats": "/api/stats/{symbol}/", "latest": "/api/prices/latest/"}


def figures() -> dict[str, Figure]:
    found: dict[str, Figure] = {}
    for name, path in PATHS.items():
        found[f"{name}-rps"] = Figure(f"5. web {path}, {CLIENTS} clients: cryptoflow",
                                      "req/s")
        found[f"{name}-p50"] = Figure(f"5. web p50 {path}, {CLIENTS} clients", "ms", digits=1)
        found[f"{name}-p99"] = Figure(f"5. web p99 {path}, {CLIENTS} clients", "ms", digits=1,
                                      target="< 10 ms")
        found[f"{name}-bare-rps"] = Figure(
            f"5. web {path}, {CLIENTS} clients: bare aiohttp handler, same bytes", "req/s")
        found[f"{name}-bare-p99"] = Figure(
            f"5. web p99 {path}, {CLIENTS} clients: bare aiohttp handler", "ms", digits=1)
        found[f"{name}-share"] = Figure(f"5. web {path}: cryptoflow / bare handler", "%",
                                        target=">= 80 %")
        found[f"{name}-cpu"] = Figure(f"5. web {path}: worker CPU per request", "µs")
        found[f"{name}-net-cpu"] = Figure(
            f"5. web {path}: worker CPU per request, less its CPU at rest", "µs")
        found[f"{name}-bare-cpu"] = Figure(f"5. web {path}: bare handler CPU per request",
                                           "µs")
    found["rest-cpu"] = Figure("5. web: worker CPU at rest (no request)", "% of a core",
                               digits=1)
    found["errors"] = Figure(f"5. web errors, {CLIENTS} clients", "", target="0")
    found["single"] = Figure("5. web p50, 1 client (cost of one request)", "ms", digits=2)
    return found


def run(results: dict[str, Figure], workdir: Path, seconds: float) -> None:
    names = symbols(3)
    errors = 0
    with local_stack() as stack, SimExchangeThread(names, seed=5) as exchange, Worker(
        stack, workdir / "web", CRYPTOFLOW_BINANCE_URL=exchange.url,
        CRYPTOFLOW_POLL_INTERVAL="1.0",
    ) as worker:
        base = f"http://127.0.0.1:{worker.web_port}"
        wait_for(lambda: asyncio.run(_all_answer(base, names)), 60, "stats for every symbol",
                 interval=0.5)
        answers = asyncio.run(_answers(base, names))
        assert worker.process is not None
        with _bare_web(workdir / "web", answers) as (bare_base, bare_pid):
            for name in PATHS:
                rest = _cpu_at_rest(worker.process.pid)
                results["rest-cpu"].add(100 * rest)
                cpu = cpu_seconds(worker.process.pid)
                loaded = asyncio.run(_load(base, names, CLIENTS, seconds, [name]))
                cpu = cpu_seconds(worker.process.pid) - cpu
                bare_cpu = cpu_seconds(bare_pid)
                bare = asyncio.run(_load(bare_base, names, CLIENTS, seconds, [name]))
                bare_cpu = cpu_seconds(bare_pid) - bare_cpu
                if bare.errors:
                    raise BenchError(f"the bare handler failed {bare.errors} requests")
                errors += loaded.errors
                results[f"{name}-rps"].add(loaded.requests / seconds)
                results[f"{name}-p50"].add(percentile(loaded.latencies[name], 50))
                results[f"{name}-p99"].add(percentile(loaded.latencies[name], 99))
                results[f"{name}-bare-rps"].add(bare.requests / seconds)
                results[f"{name}-bare-p99"].add(percentile(bare.latencies[name], 99))
                results[f"{name}-share"].add(100 * loaded.requests / bare.requests)
                results[f"{name}-cpu"].add(1e6 * cpu / loaded.requests)
                results[f"{name}-net-cpu"].add(1e6 * (cpu - rest * seconds) / loaded.requests)
                results[f"{name}-bare-cpu"].add(1e6 * bare_cpu / bare.requests)
        single = asyncio.run(_load(base, names, 1, seconds, list(PATHS)))
    results["errors"].add(errors)
    results["single"].add(percentile(single.latencies["stats"] + single.latencies["latest"], 50))


def _cpu_at_rest(pid: int) -> float:
    """The share of a core the worker uses with no request (polling, fetching, its
    timers) over REST_SECONDS: part of its CPU per request at any rate, the more the
    fewer requests a second."""
    cpu = cpu_seconds(pid)
    time.sleep(REST_SECONDS)
    return (cpu_seconds(pid) - cpu) / REST_SECONDS


async def _answers(base: str, names: list[str]) -> dict[str, str]:
    """What the worker answers on every path the clients ask, for the bare handlers."""
    paths = [PATHS["stats"].format(symbol=s) for s in names] + [PATHS["latest"]]
    async with aiohttp.ClientSession() as session:
        found = {}
        for path in paths:
            async with session.get(base + path) as response:
                found[path] = await response.text()
    return found


@contextlib.contextmanager
def _bare_web(workdir: Path, answers: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``bench/bareweb.py`` in its own process, serving ``answers``; yields its base URL
    and its process id."""
    port = free_port()
    answers_path = workdir / "answers.json"
    answers_path.write_text(json.dumps(answers), encoding="utf-8")
    with (workdir / "bareweb.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bareweb", str(port), str(answers_path)],
            env={**os.environ, "PYTHONPATH": PYTHONPATH}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _accepts(port, process), 30, "the bare web server")
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        stop_process(process, signal.SIGINT, timeout=30)  # aiohttp's run_app stops on it


def _accepts(port: int, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise BenchError(f"the bare web server exited with {process.returncode}")
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


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


async def _load(
    base: str, names: list[str], clients: int, seconds: float, kinds: Sequence[str],
) -> _Load:
    """``clients`` in a closed loop for ``seconds``, asking the ``kinds`` of PATHS in turn."""
    load = _Load()
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)

    async def client(number: int) -> None:
        i = number
        while time.monotonic() < deadline:
            name = kinds[i % len(kinds)]
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
