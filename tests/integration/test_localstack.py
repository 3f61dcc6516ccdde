"""The local stack against real clients, since every other integration test stands on it.

A broker or database that starts but cannot serve, loses data over a clean restart,
or leaves processes behind would make the pipeline tests fail in confusing ways;
these fail first, and plainly. The command line is tested as ``make run`` uses it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import MongoClient

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.exceptions import LocalStackError

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
CLI = [sys.executable, "-m", "cryptoflow.devstack.localstack",
       "--kafka-port", "0", "--mongo-port", "0"]


def accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((HOST, port)) == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One stack for the client checks: each start and stop costs seconds."""
    data_dir = tmp_path_factory.mktemp("stack")
    with LocalStack(kafka_port=0, mongo_port=0, data_dir=data_dir) as local:
        yield local


def test_both_ports_accept_connections(stack: LocalStack) -> None:
    assert stack.kafka_port != stack.mongo_port
    assert accepts(stack.kafka_port)
    assert accepts(stack.mongo_port)
    assert stack.env()["CRYPTOFLOW_BROKER"] == f"kafka://{HOST}:{stack.kafka_port}"
    assert stack.env()["CRYPTOFLOW_MONGO_URI"] == f"mongodb://{HOST}:{stack.mongo_port}"


def test_database_keeps_documents_over_a_clean_restart(stack: LocalStack) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri, timeoutMS=10_000)
    try:
        ticks = client["localstack_test"]["ticks"]
        tick = {"_id": "BTCUSDT-1", "symbol": "BTCUSDT", "price": 64000.5}
        ticks.insert_one(tick)
        assert ticks.find_one({"_id": "BTCUSDT-1"}) == tick

        stack.stop_mongo()
        assert not accepts(stack.mongo_port)
        stack.start_mongo()
        assert ticks.find_one({"_id": "BTCUSDT-1"}) == tick

        stack.kill_mongo()  # a crash: what was flushed by the clean stop is still there
        assert not accepts(stack.mongo_port)
        stack.start_mongo()
        assert ticks.find_one({"_id": "BTCUSDT-1"}) == tick
    finally:
        client.close()


def test_broker_carries_a_record_and_forgets_topics_on_restart(stack: LocalStack) -> None:
    bootstrap = f"{HOST}:{stack.kafka_port}"

    async def round_trip() -> tuple[bytes | None, bytes | None]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("localstack-test", key=b"BTCUSDT", value=b"64000.5")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "localstack-test", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=10)
        finally:
            await consumer.stop()
        return record.key, record.value

    async def topics() -> set[str]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            return await consumer.topics()
        finally:
            await consumer.stop()

    assert asyncio.run(round_trip()) == (b"BTCUSDT", b"64000.5")
    stack.stop_broker()
    assert not accepts(stack.kafka_port)
    stack.start_broker()
    assert "localstack-test" not in asyncio.run(topics())


def test_stop_reaps_every_child_and_removes_the_temporary_dir() -> None:
    stack = LocalStack(kafka_port=0, mongo_port=0)
    with stack:
        pids = stack.pids
        data_dir = stack.data_dir
        assert set(pids) == {"broker", "mongo"}
        assert all(alive(pid) for pid in pids.values())
        assert {"broker.log", "mongo.log"} <= {path.name for path in data_dir.iterdir()}
    stack.stop()  # a second stop is harmless

    assert stack.pids == {}
    assert not any(alive(pid) for pid in pids.values())
    assert not data_dir.exists()
    assert not accepts(stack.kafka_port)
    assert not accepts(stack.mongo_port)


def test_a_port_in_use_fails_at_once_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind((HOST, 0))
        squatter.listen()
        taken = int(squatter.getsockname()[1])
        stack = LocalStack(kafka_port=0, mongo_port=taken, data_dir=tmp_path)
        with pytest.raises(LocalStackError, match=f"port {taken} is already in use"):
            stack.start()
    assert stack.pids == {}
    assert not accepts(stack.kafka_port)


def test_cli_runs_a_command_with_the_stack_and_exits_with_its_status(tmp_path: Path) -> None:
    show_env = (
        "import os; print(os.environ['CRYPTOFLOW_BROKER']); "
        "print(os.environ['CRYPTOFLOW_MONGO_URI']); raise SystemExit(3)"
    )
    done = subprocess.run(
        [*CLI, "--data-dir", str(tmp_path), "--", sys.executable, "-c", show_env],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 3, done.stderr
    broker, mongo = done.stdout.split()
    assert broker.startswith(f"kafka://{HOST}:")
    assert mongo.startswith(f"mongodb://{HOST}:")
    assert not accepts(port_of(broker))
    assert not accepts(port_of(mongo))


def test_the_demo_says_where_its_simulated_exchange_is(tmp_path: Path) -> None:
    """A backfill (or a second worker) run by hand must be pointed at it."""
    show_url = "import os; print(os.environ['CRYPTOFLOW_BINANCE_URL'])"
    done = subprocess.run(
        [*CLI, "--data-dir", str(tmp_path), "--simulated-exchange", "0", "--",
         sys.executable, "-c", show_url],
        capture_output=True, text=True, timeout=60, check=True,
    )
    url = done.stdout.strip()
    assert url.startswith(f"http://{HOST}:")
    assert f"simulated exchange {url} (CRYPTOFLOW_BINANCE_URL)" in done.stderr


def test_cli_without_a_command_prints_the_environment_until_ctrl_c(tmp_path: Path) -> None:
    cli = subprocess.Popen(
        [*CLI, "--data-dir", str(tmp_path), "--simulated-exchange", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert cli.stdout is not None
        exports: dict[str, str] = {}
        for line in iter(cli.stdout.readline, ""):
            if line.startswith("#"):
                break
            name, value = line.removeprefix("export ").rstrip("\n").split("=", 1)
            exports[name] = value
        ports = [port_of(exports[name]) for name in
                 ("CRYPTOFLOW_BROKER", "CRYPTOFLOW_MONGO_URI", "CRYPTOFLOW_BINANCE_URL")]
        assert all(accepts(port) for port in ports)
        # the stream side is served on the REST port
        assert exports["CRYPTOFLOW_BINANCE_WS_URL"] == exports["CRYPTOFLOW_BINANCE_URL"].replace(
            "http://", "ws://")
        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=30) == 0
    finally:
        cli.kill()
        cli.communicate()
    assert not any(accepts(port) for port in ports)


def test_cli_forwards_sigterm_to_the_command_and_stops(tmp_path: Path) -> None:
    wait_for_sigterm = (
        "import os, signal, sys; "
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(5)); "
        "print(os.environ['CRYPTOFLOW_BROKER'], os.environ['CRYPTOFLOW_MONGO_URI'], flush=True); "
        "signal.pause()"
    )
    cli = subprocess.Popen(
        [*CLI, "--data-dir", str(tmp_path), "--", sys.executable, "-c", wait_for_sigterm],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert cli.stdout is not None
        ports = [port_of(url) for url in cli.stdout.readline().split()]
        assert len(ports) == 2
        assert all(accepts(port) for port in ports)
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=30) == 5
    finally:
        cli.kill()
        cli.communicate()
    assert not any(accepts(port) for port in ports)


@pytest.mark.parametrize(("demo", "data_dir", "database"), [
    ([], ".cryptoflow", None),
    (["--simulated-exchange", "0"], ".cryptoflow-demo", "fx_demo"),
])
def test_the_demo_keeps_its_data_apart_from_a_live_run(
    tmp_path: Path, demo: list[str], data_dir: str, database: str | None,
) -> None:
    """``make demo`` must not leave simulated prices where ``make run`` reads real ones."""
    show_env = ("import os; print(os.environ.get('CRYPTOFLOW_MONGO_DB'), "
                "os.environ.get('CRYPTOFLOW_DATA_DIR'))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOFLOW_")}
    done = subprocess.run(
        [*CLI, *demo, "--", sys.executable, "-c", show_env],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    shown_db, shown_dir = done.stdout.split()
    assert shown_db == str(database)
    assert shown_dir == (str(Path(data_dir) / "worker") if database else "None")
    assert sorted(p.name for p in tmp_path.iterdir()) == [data_dir]
