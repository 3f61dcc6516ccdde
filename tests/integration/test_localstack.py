"""The local stack: real servers on real ports, restartable, always reaped."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import MongoClient

from cryptoflow.localstack import LocalStack


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_broker_and_database_answer_and_the_database_survives_a_restart(tmp_path: Path) -> None:
    with LocalStack(kafka_port=0, mongo_port=0, data_dir=tmp_path) as stack:
        assert accepts(stack.kafka_port) and accepts(stack.mongo_port)
        client: MongoClient[dict[str, object]] = MongoClient(stack.mongo_uri)
        client.fx.probe.insert_one({"_id": 1, "price": 1.5})

        async def round_trip() -> bytes | None:
            producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{stack.kafka_port}")
            await producer.start()
            await producer.send_and_wait("probe", b"hello")
            await producer.stop()
            consumer = AIOKafkaConsumer("probe", bootstrap_servers=f"127.0.0.1:{stack.kafka_port}",
                                        auto_offset_reset="earliest")
            await consumer.start()
            try:
                return (await asyncio.wait_for(consumer.getone(), timeout=20)).value
            finally:
                await consumer.stop()

        assert asyncio.run(round_trip()) == b"hello"

        stack.stop_mongo()
        assert not accepts(stack.mongo_port)
        stack.start_mongo()
        assert client.fx.probe.find_one({"_id": 1}) == {"_id": 1, "price": 1.5}
        client.close()
        pids = [stack.broker.pid, stack.mongo.pid]
    assert not accepts(stack.kafka_port) and not accepts(stack.mongo_port)
    for pid in pids:
        assert pid is not None
        assert not Path(f"/proc/{pid}").exists()


def test_the_cli_runs_a_command_with_the_stack_and_stops_it(tmp_path: Path) -> None:
    script = "import os; print(os.environ['CRYPTOFLOW_BROKER'], os.environ['CRYPTOFLOW_MONGO_URI'])"
    result = subprocess.run(
        [sys.executable, "-m", "cryptoflow.localstack", "--kafka-port", "0", "--mongo-port", "0",
         "--data-dir", str(tmp_path), "--", sys.executable, "-c", script + "; raise SystemExit(3)"],
        capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ),
    )
    assert result.returncode == 3, result.stderr
    broker, mongo = result.stdout.strip().splitlines()[-1].split()
    assert "export CRYPTOFLOW_BROKER=" + broker in result.stdout
    assert not accepts(int(broker.rsplit(":", 1)[1]))
    assert not accepts(int(mongo.rsplit(":", 1)[1]))


def test_a_busy_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "cryptoflow.localstack", "--kafka-port", str(port),
             "--mongo-port", "0", "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
