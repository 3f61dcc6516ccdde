"""The pipeline end to end: exchange → worker → topics → MongoDB, on real parts."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import SimExchangeThread
from tests.integration.conftest import (
    READY_LINE,
    WorkerProcess,
    free_port,
    get,
    served,
    stop_serving,
    stored,
    wait_for,
)

COLLECTIONS = {"BTCUSDT": "btc", "ETHUSDT": "eth", "SOLUSDT": "sol"}


def health(worker: WorkerProcess) -> tuple[int, Any] | None:
    """``/api/health/``'s status and body, None while nothing answers on the port."""
    try:
        return get(worker, "/api/health/")
    except (urllib.error.URLError, ConnectionError):
        return None


def test_every_served_price_is_stored_exactly_once(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess],
    mongo: Database[dict[str, Any]],
    produce: Callable[[str, list[tuple[bytes | None, bytes | None]]], None],
) -> None:
    worker = start_worker(wait=False)
    # The web server answers seconds before the worker is ready: 503 "starting" then.
    first = wait_for(lambda: health(worker), timeout=60, interval=0.1, what="a first answer")
    assert first[0] == 503 and first[1]["status"] == "starting", first
    assert first[1]["checks"]["worker"]["ok"] is False
    wait_for(lambda: (answer := health(worker)) and answer[0] == 200, timeout=60,
             what="healthy once ready")
    assert READY_LINE in worker.log()
    # a start-up log a person reads: the URL within the last lines of at most 40 at INFO
    dashboard = f"cryptoflow: dashboard at http://127.0.0.1:{worker.web_port}/"
    start = wait_for(lambda: dashboard in worker.log() and worker.log(), timeout=10,
                     what="the dashboard's URL in the log")
    lines = [*start[:start.index(dashboard)].splitlines(), dashboard]
    assert len(lines) <= 40, "\n".join(lines)
    assert any(READY_LINE in line for line in lines[-5:]), "\n".join(lines)
    assert not [line for line in lines if "[DEBUG]" in line]
    wait_for(lambda: len(exchange.sim.served) >= 5 * 3, what="five polls")
    stop_serving(exchange)
    expected = served(exchange)
    wait_for(lambda: stored(mongo) == expected, what="every served price stored", timeout=20)

    docs = list(mongo["btc"].find())
    assert {doc["symbol"] for doc in docs} == {"BTCUSDT"}
    assert all(set(doc) == {"_id", "symbol", "price", "ts", "origin"} for doc in docs)
    assert all(re.fullmatch(r"btc/[0-3]/[0-9]+", doc["origin"]) for doc in docs)
    assert len({doc["origin"] for doc in docs}) == len(docs)  # where each was read
    assert all(doc["ts"].tzinfo is not None for doc in docs)
    assert all(doc["_id"] == doc["ts"] for doc in docs)  # the key: the tick's millisecond
    latest = mongo["btc"].find_one(sort=[("_id", -1)])  # the original design's query
    assert latest is not None and latest["ts"] == max(doc["ts"] for doc in docs)
    assert list(mongo["btc"].index_information()) == ["_id_"]  # no secondary index

    # A restart of the same group, then a new group on the same topics that re-reads
    # every one from the start: redelivered ticks must not create a second document. A
    # marker tick per symbol, sent after the rest to the same partition, tells when a
    # group is done.
    assert worker.stop() == 0
    for group in ("cryptoflow", "cryptoflow-reread"):
        worker = start_worker(group, CRYPTOFLOW_APP_ID=group, CRYPTOFLOW_TOPIC_PREFIX="cryptoflow")
        markers = send_markers(produce)
        expected.update(markers)
        wait_for(lambda: stored(mongo) == expected, what=f"{group} caught up", timeout=30)
        assert worker.stop() == 0


def send_markers(
    produce: Callable[[str, list[tuple[bytes | None, bytes | None]]], None],
) -> Counter[tuple[str, float]]:
    """One fresh tick per symbol from a plain producer, keyed like the worker's."""
    now = datetime.now(UTC).isoformat()
    markers: Counter[tuple[str, float]] = Counter()
    for symbol, topic in COLLECTIONS.items():
        value = {"symbol": symbol, "price": 0.5, "ts": now}
        produce(topic, [(symbol.encode(), json.dumps(value).encode())])
        markers[(symbol, 0.5)] += 1
    return markers


def test_records_from_other_producers_are_stored_and_garbage_is_dead_lettered(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
    produce: Callable[[str, list[tuple[bytes | None, bytes | None]]], None],
) -> None:
    start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    ts = datetime.now(UTC).replace(microsecond=250_000) - timedelta(seconds=5)
    millis = int(ts.timestamp() * 1000) + 1
    produce("eth", [
        (b"ETHUSDT", json.dumps(
            {"symbol": "ETHUSDT", "price": 3500.25, "ts": ts.isoformat()}).encode()),
        (b"\x00garbage", b"\xff\x00 not json"),
        (b"ETHUSDT", json.dumps({"symbol": "ETHUSDT", "price": 3501.5, "ts": millis}).encode()),
    ])
    wait_for(lambda: mongo["eth"].count_documents({}) == 2, what="two good ticks stored")
    docs = {doc["price"]: doc["ts"] for doc in mongo["eth"].find()}
    assert docs == {3500.25: ts, 3501.5: ts + timedelta(milliseconds=1)}

    letter = wait_for(lambda: mongo["deadletters"].find_one(), what="the dead letter")
    assert letter["reason"].startswith("not JSON")
    assert letter["value"] == b"\xff\x00 not json"  # not UTF-8: kept as bytes
    assert letter["key"] == "\x00garbage"
    assert letter["origin"].startswith("eth/")
    assert mongo["deadletters"].count_documents({}) == 1


def test_a_forged_dead_letter_origin_does_not_displace_the_real_letter(
    stack: LocalStack, start_worker: Callable[..., WorkerProcess],
    mongo: Database[dict[str, Any]],
) -> None:
    """Anyone may write to the dead-letter topic: a letter naming the origin where a real
    poison record lands next must not make the real letter a duplicate (it did: the
    real value and reason were lost). Copies of one letter still make one document."""
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    letters = mongo["deadletters"]
    now = datetime.now(UTC).isoformat()
    good = json.dumps({"symbol": "BTCUSDT", "price": 1.5, "ts": now}).encode()
    (placed,) = send_to(stack, "btc", [(b"BTCUSDT", good, [])], partition=0)
    origin = f"btc/0/{placed + 1}".encode()  # where the next record of btc/0 lands
    send_to(stack, "cryptoflow-deadletter", [(b"BTCUSDT", b"forged", [
        ("cryptoflow-reason", b"forged reason"), ("cryptoflow-origin", origin)])])
    wait_for(lambda: letters.count_documents({}) == 1, what="the forged letter stored")
    assert send_to(stack, "btc", [(b"BTCUSDT", b"real poison", [])], partition=0) == [
        placed + 1]
    wait_for(lambda: letters.count_documents({}) == 2, what="the real letter stored too")
    kept = {(doc["origin"], doc["value"], doc["reason"].split(":")[0]) for doc in letters.find()}
    assert kept == {(origin.decode(), "forged", "forged reason"),
                    (origin.decode(), "real poison", "not JSON")}
    # and a reason of the sender's own choosing is no metric label
    assert dead_letter_labels(worker) == {"other", "not_json"}

    # A new group on the same topics reads every one again: persist resends the real
    # letter, the dead-letter agent reads all three again; a last poison record marks
    # the end.
    assert worker.stop() == 0
    start_worker("reread", CRYPTOFLOW_APP_ID="cryptoflow-reread",
                 CRYPTOFLOW_TOPIC_PREFIX="cryptoflow", CRYPTOFLOW_POLL_INTERVAL="0")
    send_to(stack, "btc", [(b"BTCUSDT", b"last poison", [])], partition=0)
    wait_for(lambda: letters.find_one({"value": "last poison"}), what="the re-read done")
    assert letters.count_documents({}) == 3
    assert mongo["btc"].count_documents({}) == 1


def send_to(
    stack: LocalStack, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]],
    partition: int | None = None,
) -> list[int]:
    """Send (key, value, headers) records, in order; returns their offsets."""
    async def run() -> list[int]:
        producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{stack.kafka_port}")
        await producer.start()
        try:
            return [(await producer.send_and_wait(
                topic, key=key, value=value, headers=headers, partition=partition)).offset
                for key, value, headers in records]
        finally:
            await producer.stop()

    return asyncio.run(run())


def dead_letter_labels(worker: WorkerProcess) -> set[str]:
    url = f"http://127.0.0.1:{worker.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {sample.labels["reason"] for family in text_string_to_metric_families(text)
            if family.name == "cryptoflow_dead_letters" for sample in family.samples}


def test_an_unreachable_exchange_is_said_once_with_since_when(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    """Offline: neither the poll nor the stream reaches the exchange. Health says since
    when (the dashboard's message), and each cause is one warning, not one per retry."""
    started = datetime.now(UTC)
    worker = start_worker(CRYPTOFLOW_BINANCE_URL=f"http://127.0.0.1:{free_port()}",
                          CRYPTOFLOW_BINANCE_WS_URL=f"ws://127.0.0.1:{free_port()}",
                          CRYPTOFLOW_STREAMS="trades", CRYPTOFLOW_POLL_INTERVAL="0.5")
    since = wait_for(
        lambda: get(worker, "/api/health/")[1]["exchange"]["unreachable_since"], timeout=30,
        what="the exchange unreachable since a time")
    assert started <= datetime.fromisoformat(since) <= datetime.now(UTC)
    status, body = get(worker, "/api/health/")
    assert status == 503 and not body["checks"]["poll"]["ok"], body
    time.sleep(3)  # a few more retries of each
    warnings = worker.warnings().splitlines()
    assert sum("Binance stream" in line for line in warnings) == 1, warnings
    assert sum("Binance:" in line and "unreachable" in line for line in warnings) <= 1, warnings
