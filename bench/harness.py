"""What every benchmark needs: the local stack, worker processes, ticks, and figures.

Each run gets a fresh broker and database (the stack starts in about a second), so
no run sees another's topics or documents. Workers are real ``faust -A cryptoflow
worker`` processes, as a user runs them; their memory is read from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.records import format_ts
from cryptoflow.settings import topic_name

T = TypeVar("T")
READY_LINE = "[^Worker]: Ready"
PARTITIONS = 4  # CRYPTOFLOW_TOPIC_PARTITIONS' default
# Kafka's default retention, said explicitly: Tansu reports no retention.ms for a topic
# created without one, and Quix Streams' windows (bench/quixpeer.py) need it.
RETENTION_MS = str(7 * 86_400 * 1000)
# The bench package is not installed: processes that import it (bench.barefaust,
# bench.quixpeer) find it here.
PYTHONPATH = str(Path(__file__).resolve().parents[1])


class BenchError(RuntimeError):
    """A benchmark could not produce its figure (a worker died, a wait ran out)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(probe: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
    return value


@contextlib.contextmanager
def local_stack() -> Iterator[LocalStack]:
    with tempfile.TemporaryDirectory(prefix="cryptoflow-bench-") as tmp, LocalStack(
        kafka_port=0, mongo_port=0, data_dir=Path(tmp) / "stack",
    ) as stack:
        yield stack


class Worker:
    """One ``faust -A cryptoflow worker`` process on the given stack (or ``-A`` another
    faust app of the bench package, such as ``bench.barefaust``)."""

    def __init__(
        self, stack: LocalStack, workdir: Path, app: str = "cryptoflow", **settings: str,
    ) -> None:
        self.app = app
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOFLOW_")}
        if app.startswith("bench."):
            self.env["PYTHONPATH"] = PYTHONPATH
        self.env.update(stack.env())
        self.env.update({
            "CRYPTOFLOW_WEB_PORT": str(free_port()),
            "CRYPTOFLOW_DATA_DIR": str(workdir / "worker-data"),
            **settings,
        })
        self.web_port = int(self.env["CRYPTOFLOW_WEB_PORT"])
        self.log_path = workdir / "worker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.ready_at = 0.0

    def __enter__(self) -> Worker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.started = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", self.app, "worker", "-l", "info"],
                env=self.env, cwd=self.log_path.parent, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, 90, f"the worker to be ready ({self.log_path})", interval=0.02)
        self.ready_at = time.monotonic()
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise BenchError(f"worker exited with {self.process.returncode}:\n"
                             f"{self.log()[-3000:]}")
        return READY_LINE in self.log()

    def log(self) -> str:
        return self.log_path.read_bytes().decode(errors="replace")

    def memory(self) -> tuple[float, float]:
        """(current, peak) resident set size in MB, from /proc (Linux)."""
        assert self.process is not None
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]

    def __exit__(self, *_: object) -> None:
        assert self.process is not None
        stop_process(self.process)


def stop_process(
    process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM,
    timeout: float = 60,
) -> None:
    """Ask a process to stop with ``sig``; kill it if it has not within ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc (Linux): a cost per
    unit of work that other load on a shared machine changes far less than a rate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def symbols(count: int) -> list[str]:
    """The three default symbols, then made-up USDT pairs (S003USDT, ...)."""
    names = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    names += [f"S{i:03d}USDT" for i in range(len(names), count)]
    return names[:count]


def tick_values(symbol_list: Sequence[str], count: int, seed: int = 1) -> dict[str, list[bytes]]:
    """``count`` ticks in the documented JSON shape, spread over the symbols, one
    millisecond apart per symbol and ending now (distinct (symbol, ts) pairs)."""
    rng = random.Random(seed)
    per_symbol = count // len(symbol_list)
    start = datetime.now(UTC) - timedelta(milliseconds=per_symbol + 1000)
    values: dict[str, list[bytes]] = {}
    for symbol in symbol_list:
        price = 100.0 + rng.random() * 1000
        values[symbol] = []
        for i in range(per_symbol):
            price *= 1 + rng.gauss(0, 0.0005)
            values[symbol].append(json.dumps({
                "symbol": symbol, "price": round(price, 8),
                "ts": format_ts(start + timedelta(milliseconds=i)), "source": "bench",
            }).encode())
    return values


async def create_topics(bootstrap: str, names: Sequence[str]) -> None:
    """With the partition count the worker declares, as docs/data-model.md asks of producers,
    and Kafka's default retention."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1,
                      topic_configs={"retention.ms": RETENTION_MS}) for name in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, values: dict[str, list[bytes]]) -> None:
    """Every tick onto its symbol's topic, key = symbol, batched and acknowledged."""
    await create_topics(bootstrap, [topic_name(s) for s in values])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [
            await producer.send(topic_name(symbol), value, key=symbol.encode())
            for symbol, batch in values.items() for value in batch
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass
class Figure:
    """One row of the results table: the samples of one measurement over the runs."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    target: str = ""
    digits: int = 0

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def row(self) -> str:
        if not self.samples:
            return f"| {self.name} | (not measured) | | | {self.target} |"
        fmt = f",.{self.digits}f"
        spread = f"{min(self.samples):{fmt}} - {max(self.samples):{fmt}}"
        return (f"| {self.name} | {self.median:{fmt}} {self.unit} | {spread} | "
                f"{len(self.samples)} | {self.target} |")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def machine() -> str:
    return (f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def table(figures: Sequence[Figure]) -> str:
    lines = [
        "| figure | median | spread (min - max) | runs | target |",
        "|---|---|---|---|---|",
    ]
    lines += [figure.row() for figure in figures]
    return "\n".join(lines)
