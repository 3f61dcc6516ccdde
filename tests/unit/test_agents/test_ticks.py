"""``{prefix}-ticks`` crosses faust once: one agent counts and checks every tick, read
from records of a symbol's stored ticks, each counted by its own origin."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cryptoflow import app
from cryptoflow.broker.topics import sightings, ticks_topic
from cryptoflow.exceptions import InvalidRecord
from cryptoflow.records import PriceTick, parse_stored_ticks, stored_ticks_records


def test_one_agent_reads_the_stored_ticks() -> None:
    name = ticks_topic.get_topic_name()
    readers = [agent.name for agent in app.agents.values()
               if name in agent.channel.topics]
    assert readers == ["cryptoflow.agents.ticks.stored_ticks"]


NOW = datetime(2026, 12, 2, tzinfo=UTC)


def tick(price: float, millis: int) -> PriceTick:
    return PriceTick(symbol="BTCUSDT", price=price,
                     ts=datetime.fromtimestamp(1_764_633_600 + millis / 1000, tz=UTC))


def test_a_record_of_stored_ticks_is_counted_by_each_ticks_origin() -> None:
    stored = [(tick(1.0, 0), "btc/2/7"), (tick(2.0, 1), "btc/2/9"), (tick(3.0, 2), "xyz/2/10"),
              (tick(4.0, 3), "btc/2/x")]
    (value,) = stored_ticks_records(stored)
    record = parse_stored_ticks(value, {"BTCUSDT"}, NOW)
    assert record.symbol == "BTCUSDT"
    found = sightings(record)
    assert [t.price for t, _ in found] == [1.0, 2.0, 3.0, 4.0]
    assert [s and (s.source, s.offset) for _, s in found] == [
        ("btc/2", 7), ("btc/2", 9), None, None]  # no symbol topic, no offset: not counted


def test_a_record_that_holds_no_ticks_is_refused() -> None:
    with pytest.raises(InvalidRecord):
        parse_stored_ticks(b"not json", {"BTCUSDT"}, NOW)
