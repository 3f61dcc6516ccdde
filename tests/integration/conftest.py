"""Real parts for integration tests: the local stack, the simulated exchange, workers.

Every test gets its own broker and database (both start in about a second), so
no test sees another's topics or documents. Workers are real ``faust -A cryptoflow
worker`` processes on free ports, stopped (SIGTERM) when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import MongoClient
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import DEFAULT_SYMBOLS, Fault, SimExchangeThread
from cryptoflow.settings import topic_name

pytestmark = pytest.mark.integration

T = TypeVar("T")
READY_LINE = "[^Worker]: Ready"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.2,
    what: str | Callable[[], str] = "",
) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout``.
    ``what`` names what was awaited; a callable is asked at the failure, so it can say
    how far things got."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            awaited = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout:g}s waiting for {awaited or probe}")
        time.sleep(interval)


class WorkerProcess:
    """One ``faust -A cryptoflow worker`` subprocess with its own log and web port."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "worker") -> None:
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.web_port = int(env["CRYPTOFLOW_WEB_PORT"])
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self, wait: bool = True) -> WorkerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", "cryptoflow", "worker", "-l", "info"],
                env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            )
        if wait:
            wait_for(self._ready, timeout=60, what=f"worker ready ({self.log_path})")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        return READY_LINE in self.log()

    def log(self) -> str:
        """This run's log (a restart appends to the same file)."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[self._log_offset:].decode(errors="replace")

    def warnings(self) -> str:
        """This run's log lines above INFO, for a failure message."""
        levels = ("[WARNING]", "[ERROR]", "[CRITICAL]")
        return "\n".join(line for line in self.log().splitlines()
                         if any(level in line for level in levels))

    def stop(self, timeout: float = 45.0) -> int:
        """SIGTERM and wait: faust's own shutdown commits offsets and flushes."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def get(worker: WorkerProcess, path: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def job_runs(worker: WorkerProcess, job: str) -> int:
    """How many runs of ``job`` this worker has finished, by its metrics (a run that
    wrote nothing logs at debug level only)."""
    url = f"http://127.0.0.1:{worker.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    found = re.search(rf'^cryptoflow_job_runs_total{{job="{job}",outcome="ok"}} (\S+)$', text,
                      re.MULTILINE)
    return int(float(found[1])) if found else 0


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(kafka_port=0, mongo_port=0, data_dir=tmp_path / "stack") as local:
        yield local


@pytest.fixture
def exchange() -> Iterator[SimExchangeThread]:
    with SimExchangeThread(seed=7) as sim:
        yield sim


def worker_environment(stack: LocalStack, exchange: SimExchangeThread) -> dict[str, str]:
    """Environment of a worker on ``stack``: fast polls, quick batches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOFLOW_")}
    env.update(stack.env())
    env.update({
        "CRYPTOFLOW_BINANCE_URL": exchange.url,
        "CRYPTOFLOW_BINANCE_WS_URL": exchange.ws_url,
        # The price-tick tests run without the streams; tests/integration/test_streams*.py
        # turn them on.
        "CRYPTOFLOW_STREAMS": "none",
        "CRYPTOFLOW_POLL_INTERVAL": "0.5",
        "CRYPTOFLOW_BATCH_LINGER": "0.1",
        "CRYPTOFLOW_WEB_PORT": str(free_port()),
        "CRYPTOFLOW_DATA_DIR": "worker-data",
    })
    return env


class Workers:
    """Starts workers in ``root``; ``stop_all`` stops every one still running."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.env = env
        self.root = root
        self.started: list[WorkerProcess] = []

    def start(self, name: str = "worker", wait: bool = True, **overrides: str) -> WorkerProcess:
        env = {**self.env, **overrides}
        if self.started and "CRYPTOFLOW_WEB_PORT" not in overrides:  # one web port each
            env["CRYPTOFLOW_WEB_PORT"] = str(free_port())
        worker = WorkerProcess(env, self.root / name, name)
        self.started.append(worker)
        return worker.start(wait=wait)

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.running:
                worker.stop()


@pytest.fixture
def worker_env(stack: LocalStack, exchange: SimExchangeThread) -> dict[str, str]:
    return worker_environment(stack, exchange)


@pytest.fixture
def start_worker(
    worker_env: dict[str, str], tmp_path: Path,
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers; every one still running at the end is stopped."""
    workers = Workers(worker_env, tmp_path)
    yield workers.start
    workers.stop_all()


@contextlib.contextmanager
def database(stack: LocalStack, name: str = "fx") -> Iterator[Database[dict[str, Any]]]:
    """The stack's database ``name`` (the workers' by default) through a client of its
    own, closed when done."""
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri, tz_aware=True)
    try:
        yield client[name]
    finally:
        client.close()


@pytest.fixture
def mongo(stack: LocalStack) -> Iterator[Database[dict[str, Any]]]:
    with database(stack) as db:
        yield db


def produce_to(stack: LocalStack, topic: str,
               records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Send (key, value) pairs to a topic of ``stack`` with a plain aiokafka producer."""

    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=f"127.0.0.1:{stack.kafka_port}", max_request_size=4 << 20)
        await producer.start()
        try:
            for key, value in records:
                await producer.send_and_wait(topic, key=key, value=value)
        finally:
            await producer.stop()

    asyncio.run(run())


@pytest.fixture
def produce(stack: LocalStack) -> Callable[[str, list[tuple[bytes | None, bytes | None]]], None]:
    """Send (key, value) pairs to a topic with a plain aiokafka producer."""
    return lambda topic, records: produce_to(stack, topic, records)


def served(exchange: SimExchangeThread) -> Counter[tuple[str, float]]:
    """Every price the exchange answered with, as (symbol, price)."""
    return Counter((p.symbol, float(p.price)) for p in exchange.sim.served)


def stop_serving(exchange: SimExchangeThread) -> None:
    """Answer 503 from now on, so 'served' stops growing while the worker drains."""
    exchange.sim.inject(*[Fault.status(503)] * 10_000)


def stored(
    mongo: Database[dict[str, Any]], symbols: Iterable[str] = DEFAULT_SYMBOLS,
) -> Counter[tuple[str, float]]:
    """Every stored tick, as (symbol, price)."""
    return Counter(
        (doc["symbol"], doc["price"])
        for name in {topic_name(symbol) for symbol in symbols}
        for doc in mongo[name].find({}, {"_id": 0, "symbol": 1, "price": 1})
    )


def assert_accounted_for(
    mongo: Database[dict[str, Any]], good: Counter[tuple[str, float]],
    poison: Counter[bytes] | None = None, timeout: float = 30.0,
    worker: WorkerProcess | None = None,
) -> None:
    """The promise of the fault drills: every good tick stored exactly once, every bad
    one in the dead letters with a reason, and nothing else in either place. A failure
    says what is missing or extra, and what ``worker`` logged above INFO."""

    def dead() -> Counter[bytes]:
        return Counter(
            doc["value"].encode() if isinstance(doc["value"], str) else doc["value"]
            for doc in mongo["deadletters"].find({}, {"value": 1})
        )

    poison = poison or Counter()

    def progress() -> str:
        now_stored, now_dead = stored(mongo), dead()
        return (f"{sum(good.values())} ticks stored once and {sum(poison.values())} dead "
                f"letters; missing {sorted((good - now_stored).items())[:10]} "
                f"({sum((good - now_stored).values())}), "
                f"extra {sorted((now_stored - good).items())[:10]} "
                f"({sum((now_stored - good).values())}), "
                f"dead letters missing {sum((poison - now_dead).values())}, "
                f"unexpected {sum((now_dead - poison).values())}"
                + (f"\nworker warnings:\n{worker.warnings()[-4000:]}" if worker else ""))

    wait_for(lambda: stored(mongo) == good and dead() == poison, timeout=timeout,
             what=progress)
    assert all(doc.get("reason") for doc in mongo["deadletters"].find())
