"""A batch's dead letters go to the broker together: one delivery, waited for once,
whether the batch holds one refused record or a thousand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest

from cryptoflow.agents import persist, trades
from cryptoflow.agents.batches import checked_by_symbol
from cryptoflow.broker import topics
from cryptoflow.records import AGG_TRADE_FIELDS, Trade, agg_trade_wire, parse_trade
from cryptoflow.sinks.mongo import WriteOutcome

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MS = int(NOW.timestamp() * 1000)
REFUSED = 50


def event(value: bytes, partition: int, offset: int, topic: str = "t") -> Any:
    key = json.dumps("BTCUSDT").encode()
    return SimpleNamespace(value=value, key=key, message=SimpleNamespace(
        topic=topic, partition=partition, offset=offset, key=key))


@pytest.fixture
def deliveries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every ``deliver`` call, as (topic, messages), in place of the broker."""
    calls: list[tuple[str, list[dict[str, Any]]]] = []

    async def deliver(topic: Any, messages: list[dict[str, Any]], send: Any = None) -> None:
        calls.append((topic.get_topic_name(), messages))

    monkeypatch.setattr(topics, "deliver", deliver)
    return calls


def letters(calls: list[tuple[str, list[dict[str, Any]]]]) -> list[tuple[bytes, bytes]]:
    """(value, origin) of each dead letter, after checking it was one delivery."""
    assert [topic for topic, _ in calls] == [topics.deadletter_topic.get_topic_name()]
    return [(m["value"], m["headers"][topics.ORIGIN_HEADER]) for m in calls[0][1]]


@pytest.mark.asyncio
async def test_the_refused_records_of_a_market_batch_are_one_delivery(
    deliveries: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    home = topics.symbol_partition("BTCUSDT")
    fields = dict(zip(AGG_TRADE_FIELDS, (7, "1.5", "2", 7, 7, MS, True), strict=True))
    good = agg_trade_wire(fields, "BTCUSDT")
    batch = [event(b"bad %d" % n, home, n) for n in range(REFUSED)]
    batch.insert(10, event(good, home, 1000))
    batch.append(event(good, home + 1, 1001))  # on another partition than its symbol's
    groups = await checked_by_symbol(
        batch, partial(parse_trade, symbols={"BTCUSDT"}, now=NOW), topics.symbol_partition)
    assert [trade.trade_id for _, trade in groups["BTCUSDT"]] == [7]
    assert letters(deliveries) == [
        *((b"bad %d" % n, f"t/{home}/{n}".encode()) for n in range(REFUSED)),
        (good, f"t/{home + 1}/1001".encode())]


@pytest.mark.asyncio
async def test_the_refused_ticks_of_a_batch_are_one_delivery(
    deliveries: list[tuple[str, list[dict[str, Any]]]],
) -> None:
    batch = [event(b"not a tick %d" % n, 0, n, "btc") for n in range(REFUSED)]
    assert await persist.store_batch(batch) == []
    assert letters(deliveries) == [(b"not a tick %d" % n, b"btc/0/%d" % n)
                                   for n in range(REFUSED)]


@pytest.mark.asyncio
async def test_the_trades_the_database_rejects_are_one_delivery(
    deliveries: list[tuple[str, list[dict[str, Any]]]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = [Trade(symbol="BTCUSDT", trade_id=n, price=1.5, qty=2.0, first_trade_id=n,
                   last_trade_id=n, time_ms=MS, is_buyer_maker=True) for n in range(REFUSED)]

    class Store:
        async def insert(self, _: str, documents: list[dict[str, Any]]) -> WriteOutcome:
            return WriteOutcome(rejected=[(document, "too large") for document in documents])

    monkeypatch.setattr(trades.app, "store", Store())
    assert await trades.store(batch) == {}
    assert [origin for _, origin in letters(deliveries)] == [
        f"trades/{trade.to_document()['_id']}".encode() for trade in batch]
