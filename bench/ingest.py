"""Benchmarks 1-3 (and the first memory figure): draining 100,000 ticks into MongoDB.

One run: a fresh stack; the ticks produced once, before anything reads them; then,
one after the other on the same records, so each has both cores to itself:

1. cryptoflow: a worker with the poller off stores them all (rate from its first
   stored document to the last), and its tables catch up (every symbol's latest
   tick served by ``/api/prices/latest/``); its peak RSS is read then.
   The peer: Quix Streams doing the same work (``bench/quixpeer.py``: its MongoDB
   sink upserting on (symbol, ts), 1m and 5m tumbling windows by event time), its
   rate measured the same way, in another database.
2. the naive design: kafka-python, one ``insert_one`` per message, into another
   database. It is far slower, so it runs for ``naive_seconds`` (its rate is flat:
   each message costs the same round trip) instead of draining everything.
3. the ceilings: a bare aiokafka consumer decoding every record (no database); a
   bare faust worker whose three agents only decode and count (``bench/barefaust.py``,
   a real ``faust -A`` worker, no database); and ``insert_many`` of the same
   documents, batches of 1,000, into collections without a secondary index (no
   Kafka), and, beside it, the documents as the worker writes them (``_id`` = ``ts``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from pymongo import ASCENDING, MongoClient

from bench.harness import (
    PARTITIONS,
    PYTHONPATH,
    BenchError,
    Figure,
    Worker,
    local_stack,
    produce,
    stop_process,
    tick_values,
    wait_for,
)
from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.records import PriceTick
from cryptoflow.settings import topic_name

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
BATCH = 1000


def figures() -> dict[str, Figure]:
    return {
        "consume": Figure("3. ceiling: raw aiokafka consume + json.loads", "records/s"),
        "insert": Figure("3. ceiling: raw insert_many (1,000/batch), no secondary index",
                         "records/s"),
        "bare": Figure("3. ceiling: bare faust worker (3 agents decode + count)", "records/s"),
        "keyed": Figure("3. insert_many (1,000/batch) as the worker writes: _id = ts",
                        "records/s"),
        "cryptoflow": Figure("1. ingest: cryptoflow worker → MongoDB, with its tables",
                             "records/s"),
        "tables": Figure("1. ingest: tables caught up (stats, alerts) after start", "s",
                         digits=1),
        "quix": Figure("1. peer: Quix Streams, 1m + 5m windows + MongoDB sink upserts",
                       "records/s"),
        "naive": Figure("2. ingest: naive design (kafka-python, insert_one)", "records/s"),
        "fraction": Figure("1. cryptoflow / lower ceiling", "%", target=">= 50 %", digits=0),
        "versus-quix": Figure("1. cryptoflow / Quix Streams", "x", target=">= 3x", digits=1),
        "ratio": Figure("2. cryptoflow / naive", "x", target=">= 20x", digits=1),
        "rss": Figure("6. worker peak RSS after benchmark 1", "MB", digits=0),
    }


def run(results: dict[str, Figure], workdir: Path, records: int, naive_seconds: float) -> None:
    values = tick_values(SYMBOLS, records)
    total = sum(len(v) for v in values.values())
    with local_stack() as stack:
        bootstrap = f"127.0.0.1:{stack.kafka_port}"
        asyncio.run(produce(bootstrap, values))
        rate, tables, rss = _cryptoflow(stack, workdir, values, total)
        bare = _bare_faust(stack, workdir, total)
        quix = _quix(stack, bootstrap, workdir, values, total)
        naive = _naive(stack, bootstrap, total, naive_seconds)
        consume = asyncio.run(_consume(bootstrap, total))
        insert = _insert(stack, values, "ceiling", keyed=False)
        keyed = _insert(stack, values, "keyed", keyed=True)
    for name, value in [("cryptoflow", rate), ("tables", tables), ("quix", quix),
                        ("naive", naive), ("ratio", rate / naive), ("consume", consume),
                        ("insert", insert), ("bare", bare), ("keyed", keyed),
                        ("fraction", 100 * rate / min(consume, insert, bare)),
                        ("versus-quix", rate / quix), ("rss", rss)]:
        results[name].add(value)


def _counts(client: MongoClient[dict[str, Any]], database: str) -> int:
    db = client[database]
    return sum(db[topic_name(s)].count_documents({}) for s in SYMBOLS)


def _by_id(_symbol: str, ts: datetime) -> dict[str, Any]:
    """cryptoflow's key of a tick (one symbol per collection): its event time, in ``_id``."""
    return {"_id": ts}


def _by_symbol_ts(symbol: str, ts: datetime) -> dict[str, Any]:
    """Quix Streams' sink: matched on (symbol, ts), through the unique index made for it."""
    return {"symbol": symbol, "ts": ts}


def _stored(
    client: MongoClient[dict[str, Any]], ticks: dict[str, bytes], database: str,
    key: Callable[[str, datetime], dict[str, Any]],
) -> bool:
    """Whether every one of these ticks (one per symbol) is in ``database``: point lookups
    by ``key`` on an index, cheap enough to ask every few milliseconds, unlike a count,
    which SecantusDB answers by reading the collection and which slowed the worker it
    measured when asked four times a second."""
    db = client[database]
    return all(
        db[topic_name(symbol)].find_one(
            key(symbol, datetime.fromisoformat(json.loads(value)["ts"])), {"_id": 1},
        ) is not None
        for symbol, value in ticks.items()
    )


def _cryptoflow(
    stack: LocalStack, workdir: Path, values: dict[str, list[bytes]], total: int,
) -> tuple[float, float, float]:
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
    last_ts = {s: json.loads(v[-1])["ts"] for s, v in values.items()}
    try:
        with Worker(stack, workdir / "ingest", CRYPTOFLOW_POLL_INTERVAL="0") as worker:
            rate = _drain_rate(client, "fx", _by_id, values, total)
            wait_for(lambda: _latest(worker) == last_ts, 600, "the tables to catch up",
                     interval=0.2)
            tables = time.monotonic() - worker.ready_at
            _, peak = worker.memory()
    finally:
        client.close()
    return rate, tables, peak


def _drain_rate(
    client: MongoClient[dict[str, Any]], database: str,
    key: Callable[[str, datetime], dict[str, Any]], values: dict[str, list[bytes]], total: int,
) -> float:
    """A symbol's ticks sit in one partition and are written in order, so its first
    tick stored starts the clock and its last one stops it; the count is checked then.
    What the first write held was done before the clock started, so it is counted
    once then and left out (Quix Streams' sink writes what 5 s of processing gave)."""
    firsts = {s: v[0] for s, v in values.items()}
    lasts = {s: v[-1] for s, v in values.items()}
    wait_for(lambda: any(_stored(client, {s: v}, database, key) for s, v in firsts.items()),
             180, f"the first tick stored in {database}", interval=0.01)
    first = time.monotonic()
    before = _counts(client, database)
    wait_for(lambda: _stored(client, lasts, database, key), 900,
             f"the last ticks in {database}", interval=0.05)
    done = time.monotonic()
    if (count := _counts(client, database)) != total:
        raise BenchError(f"{database} holds {count} ticks, {total} were produced")
    return (total - before) / (done - first)


def _bare_faust(stack: LocalStack, workdir: Path, total: int) -> float:
    with Worker(stack, workdir / "bare-faust", app="bench.barefaust") as worker:
        counts = wait_for(lambda: _counted(worker, total), 600, "the bare faust worker",
                          interval=0.1)
    assert counts is not None  # wait_for returns a true value
    seconds: float = counts["seconds"]
    return total / seconds


def _counted(worker: Worker, total: int) -> dict[str, Any] | None:
    """The bare worker's counts once it has decoded ``total`` records."""
    url = f"http://127.0.0.1:{worker.web_port}/counts/"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            counts: dict[str, Any] = json.loads(response.read())
    except OSError:
        return None
    return counts if counts["records"] >= total else None


def _quix(
    stack: LocalStack, bootstrap: str, workdir: Path, values: dict[str, list[bytes]],
    total: int,
) -> float:
    """Quix Streams in its own process (``bench/quixpeer.py``) until it stored them all."""
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
    for symbol in SYMBOLS:  # its upsert matched by (symbol, ts) is a scan without it
        client["quix"][topic_name(symbol)].create_index(
            [("symbol", ASCENDING), ("ts", ASCENDING)], unique=True)
    log_path = workdir / "quix" / "quix.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.quixpeer", bootstrap, str(stack.mongo_port),
             str(workdir / "quix" / "state")],
            env={**os.environ, "PYTHONPATH": PYTHONPATH}, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        return _drain_rate(client, "quix", _by_symbol_ts, values, total)
    except BenchError as err:
        raise BenchError(f"{err} (Quix Streams' log: {log_path}, exit {process.poll()})") from None
    finally:
        client.close()
        stop_process(process)


def _latest(worker: Worker) -> dict[str, str]:
    url = f"http://127.0.0.1:{worker.web_port}/api/prices/latest/"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return {row["symbol"]: row["ts"] for row in json.loads(response.read()) if row}
    except OSError:
        return {}


def _naive(stack: LocalStack, bootstrap: str, total: int, seconds: float) -> float:
    """The original design's consumer: one message, one ``insert_one``."""
    from kafka import KafkaConsumer  # the bench extra; only this baseline uses it

    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
    db = client["naive"]
    consumer = KafkaConsumer(
        *[topic_name(s) for s in SYMBOLS], bootstrap_servers=bootstrap, group_id="naive",
        auto_offset_reset="earliest",
    )
    stored, started = 0, 0.0
    try:
        while stored < total and (not started or time.monotonic() - started < seconds):
            for messages in consumer.poll(timeout_ms=500).values():
                for message in messages:
                    started = started or time.monotonic()
                    tick = json.loads(message.value)
                    db[message.topic].insert_one(
                        {"symbol": tick["symbol"], "price": tick["price"], "ts": tick["ts"]})
                    stored += 1
        return stored / (time.monotonic() - started)
    finally:
        consumer.close()
        client.close()


async def _consume(bootstrap: str, total: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic_name(s), p) for s in SYMBOLS for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, started = 0, time.monotonic()
        while seen < total:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    json.loads(record.value)
                seen += len(records)
        return total / (time.monotonic() - started)
    finally:
        await consumer.stop()


def _insert(
    stack: LocalStack, values: dict[str, list[bytes]], database: str, keyed: bool,
) -> float:
    """``insert_many`` alone into collections with only the ``_id`` index every
    collection has; ``keyed``: the documents as the worker writes them, ``_id`` = ``ts``
    (else MongoDB's ObjectId)."""
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
    db = client[database]
    batches = []
    for symbol, batch in values.items():
        collection = db[topic_name(symbol)]
        documents = [
            PriceTick(symbol=t["symbol"], price=t["price"], ts=datetime.fromisoformat(t["ts"]))
            .to_document() for t in map(json.loads, batch)]
        if not keyed:
            for document in documents:
                del document["_id"]
        batches += [(collection, documents[i:i + BATCH]) for i in range(0, len(documents), BATCH)]
    try:
        started = time.monotonic()
        for collection, documents in batches:
            collection.insert_many(documents, ordered=False)
        return sum(len(docs) for _, docs in batches) / (time.monotonic() - started)
    finally:
        client.close()
