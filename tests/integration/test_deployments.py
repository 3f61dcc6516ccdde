"""Two deployments on one broker: each reads and writes only its own topics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from pymongo import MongoClient

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import SimExchangeThread
from cryptoflow.records import AGG_TRADE_FIELDS, agg_trade_wire
from tests.integration.conftest import Workers, wait_for, worker_environment

DEPLOYMENTS = ("alpha", "beta")  # each its own app id, topic prefix and database
KINDS = ("trades", "book", "deadletter", "ticks", "alerts")
KEY = json.dumps("BTCUSDT").encode()  # as the worker keys it: the same partition


def trade(trade_id: int) -> bytes:
    now = int(time.time() * 1000)
    values = (trade_id, "67000.5", "0.01", trade_id, trade_id, now, False)
    return agg_trade_wire(dict(zip(AGG_TRADE_FIELDS, values, strict=True)), "BTCUSDT")


def broker_topics(stack: LocalStack) -> set[str]:
    async def run() -> set[str]:
        consumer = AIOKafkaConsumer(bootstrap_servers=f"127.0.0.1:{stack.kafka_port}")
        await consumer.start()
        try:
            return set(await consumer.topics())
        finally:
            await consumer.stop()

    return asyncio.run(run())


def test_two_deployments_on_one_broker_stay_apart(
    stack: LocalStack, exchange: SimExchangeThread, tmp_path: Path,
    produce: Callable[[str, list[tuple[bytes | None, bytes | None]]], None],
) -> None:
    workers = Workers({**worker_environment(stack, exchange),
                       "CRYPTOFLOW_POLL_INTERVAL": "0"}, tmp_path)
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri, tz_aware=True)
    try:
        started = [workers.start(name, wait=False, CRYPTOFLOW_APP_ID=name,
                                 CRYPTOFLOW_MONGO_DB=name) for name in DEPLOYMENTS]  # at once
        for worker in started:
            wait_for(worker._ready, timeout=60, what=f"{worker.log_path} ready")
        alpha, beta = (client[name] for name in DEPLOYMENTS)

        # A good trade and a bad one for alpha: alpha stores one and dead-letters the other.
        produce("alpha-trades", [(KEY, trade(1)), (KEY, b'{"s": "BTCUSDT", "a": 2}')])
        wait_for(lambda: alpha["trades"].count_documents({}) == 1
                 and alpha["deadletters"].count_documents({}) == 1, what="alpha's records")
        (letter,) = alpha["deadletters"].find()
        assert letter["origin"].startswith("alpha-trades/"), letter
        # A trade for beta on the same partition of its own topic: once beta has stored
        # it, beta has read everything before it there (all of it, were the topic shared).
        produce("beta-trades", [(KEY, trade(3))])
        wait_for(lambda: beta["trades"].count_documents({}) == 1, what="beta's trade")
        assert [doc["trade_id"] for doc in beta["trades"].find()] == [3]
        assert beta["deadletters"].count_documents({}) == 0
        assert [doc["trade_id"] for doc in alpha["trades"].find()] == [1]

        topics = broker_topics(stack)
        assert {f"{name}-{kind}" for name in DEPLOYMENTS for kind in KINDS} <= topics
        assert not topics & {"trades", "book", "alerts", "cryptoflow-deadletter",
                             "cryptoflow-ticks"}
    finally:
        workers.stop_all()
        client.close()
