"""The live feed's consumer: a Kafka error ends one consumer, never the feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError
from prometheus_client import REGISTRY

from cryptoflow.backoff import Backoff
from cryptoflow.records import PriceTick, stored_ticks_record
from cryptoflow.web import feed

Script = Exception | list[Any]


def tick(price: float) -> bytes:
    """A stored-ticks record of one tick, as the persist agent sends it."""
    return stored_ticks_record([(PriceTick(symbol="BTCUSDT", price=price,
                                           ts=datetime(2026, 12, 1, tzinfo=UTC)), "btc/0/1")])


class ScriptedConsumer:
    """Stands in for aiokafka's consumer: each one created plays the next script (an
    error from ``start()``, or messages and then an error or a quiet topic)."""

    scripts: ClassVar[list[Script]] = []
    created: ClassVar[list[ScriptedConsumer]] = []

    def __init__(self, *topics: str, **options: Any) -> None:
        self.script = self.scripts.pop(0)
        self.stopped = False
        self.created.append(self)

    async def start(self) -> None:
        if isinstance(self.script, Exception):
            raise self.script

    def __aiter__(self) -> AsyncIterator[SimpleNamespace]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[SimpleNamespace]:
        assert isinstance(self.script, list)
        for item in self.script:
            if isinstance(item, Exception):
                raise item
            yield SimpleNamespace(value=item, offset=0)
        await asyncio.Event().wait()  # nothing more on the topic

    async def stop(self) -> None:
        self.stopped = True


@pytest.mark.asyncio
async def test_the_feed_reconnects_with_backoff_after_kafka_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ScriptedConsumer.scripts = [
        KafkaConnectionError("broker not reachable"),  # the first start fails
        [tick(1.0), KafkaError("connection lost")],  # one tick, then the connection goes
        [tick(2.0)],  # and the third consumer carries on
    ]
    ScriptedConsumer.created = []
    monkeypatch.setattr(feed, "AIOKafkaConsumer", ScriptedConsumer)
    monkeypatch.setattr(feed, "RECONNECT", Backoff(base=0.001, cap=0.001), raising=False)
    with feed.app.live_feed.subscribe() as client:
        task = asyncio.ensure_future(feed.feed_live_ticks())
        try:
            first = await asyncio.wait_for(client.next(), 10)
            second = await asyncio.wait_for(client.next(), 10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert first is not None and second is not None
    assert (first["price"], second["price"]) == (1.0, 2.0)
    assert len(ScriptedConsumer.created) == 3
    assert all(consumer.stopped for consumer in ScriptedConsumer.created)


@pytest.mark.asyncio
async def test_a_record_that_is_not_a_tick_is_skipped_not_fatal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ScriptedConsumer.scripts = [[b"not json", b'{"symbol": 1}', b"[1]", tick(3.0)]]
    ScriptedConsumer.created = []
    monkeypatch.setattr(feed, "AIOKafkaConsumer", ScriptedConsumer)
    skipped = REGISTRY.get_sample_value("cryptoflow_live_feed_skipped_total") or 0.0
    with feed.app.live_feed.subscribe() as client:
        task = asyncio.ensure_future(feed.feed_live_ticks())
        try:
            event = await asyncio.wait_for(client.next(), 10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert event is not None and event["price"] == 3.0
    assert len(ScriptedConsumer.created) == 1  # the same consumer read on
    assert REGISTRY.get_sample_value("cryptoflow_live_feed_skipped_total") == skipped + 3
