"""Ticks in MongoDB keyed by their event time: duplicates, reads, retention.

``TickStore`` against the local database, and a worker for the retention job: a
tick's ``_id`` is its ``ts``, so the ``_id`` index every collection has refuses a
redelivered tick and orders a symbol's ticks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.records import PriceTick
from cryptoflow.sinks.mongo import ORIGIN_FIELD, TickStore
from tests.integration.conftest import WorkerProcess, wait_for

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def tick(seconds: float, price: float = 100.0, origin: str = "btc/0/0") -> dict[str, Any]:
    """A tick document as the persist agent writes it."""
    document = PriceTick(symbol="BTCUSDT", price=price, ts=T0 + timedelta(seconds=seconds))
    return {**document.to_document(), ORIGIN_FIELD: origin}


@pytest_asyncio.fixture
async def store(stack: LocalStack) -> AsyncIterator[TickStore]:
    tick_store = TickStore(stack.mongo_uri, "fx")
    yield tick_store
    await tick_store.close()


@pytest.mark.asyncio
async def test_a_tick_is_keyed_by_its_event_time_and_a_second_copy_is_a_duplicate(
    store: TickStore, mongo: Database[dict[str, Any]],
) -> None:
    first = await store.insert("btc", [tick(0, origin="btc/0/0"), tick(1.5, origin="btc/0/1")])
    assert len(first.inserted) == 2
    # the same instant again (another origin, another price): the _id index refuses it
    again = await store.insert("btc", [tick(1.5, 99.0, origin="btc/1/7"), tick(3)])
    assert [doc["ts"] for doc in again.duplicates] == [T0 + timedelta(seconds=1.5)]
    assert [doc["ts"] for doc in again.inserted] == [T0 + timedelta(seconds=3)]
    assert list(mongo["btc"].index_information()) == ["_id_"]  # no secondary index
    assert all(doc["_id"] == doc["ts"] for doc in mongo["btc"].find())
    # the origin of what is held under a duplicate's key: the first copy's
    held = await store.origins("btc", again.duplicates)
    assert held == {T0 + timedelta(seconds=1.5): "btc/0/1"}
    # the original design's queries
    newest = mongo["btc"].find_one(sort=[("_id", -1)])
    assert newest is not None and newest["ts"] == T0 + timedelta(seconds=3)
    assert mongo["btc"].count_documents({}) == 3


@pytest.mark.asyncio
async def test_ticks_are_read_by_event_time_through_the_id(store: TickStore) -> None:
    await store.insert("btc", [tick(s, price=100.0 + s) for s in (4, 0, 2, 6, 8)])
    between = await store.ticks_between("btc", T0 + timedelta(seconds=2),
                                        T0 + timedelta(seconds=8))
    assert [doc["price"] for doc in between] == [102.0, 104.0, 106.0]  # oldest first
    assert all(set(doc) == {"price", "ts"} for doc in between)
    limited = await store.ticks_between("btc", T0, T0 + timedelta(seconds=9), 2)
    assert [doc["price"] for doc in limited] == [100.0, 102.0]
    last = await store.last_ticks("btc", 3)
    assert [doc["price"] for doc in last] == [104.0, 106.0, 108.0]  # oldest first


@pytest.mark.asyncio
async def test_retention_deletes_ticks_before_the_cutoff_by_id(
    store: TickStore, mongo: Database[dict[str, Any]],
) -> None:
    await store.insert("btc", [tick(s) for s in range(5)])
    deleted = await store.delete_before("btc", T0 + timedelta(seconds=2))
    assert deleted == 2
    assert [doc["_id"] for doc in mongo["btc"].find(sort=[("_id", 1)])] == [
        T0 + timedelta(seconds=s) for s in (2, 3, 4)]


def test_the_retention_job_deletes_old_ticks(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old, fresh = now - timedelta(days=2, minutes=1), now - timedelta(hours=23)
    mongo["eth"].insert_many([
        PriceTick(symbol="ETHUSDT", price=2.0, ts=ts).to_document() for ts in (old, fresh)])
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0", CRYPTOFLOW_RETENTION_DAYS="1",
                          CRYPTOFLOW_RETENTION_INTERVAL="1")
    wait_for(lambda: mongo["eth"].count_documents({}) == 1, what="the old tick deleted")
    assert [doc["ts"] for doc in mongo["eth"].find()] == [fresh]
    wait_for(lambda: "job tick_retention: 1 document(s) written or deleted" in worker.log(),
             what="the run that deleted it logged")
    assert list(mongo["eth"].index_information()) == ["_id_"]
