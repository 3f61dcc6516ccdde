"""LiveFeed: events fan out, a slow client drops its oldest, nobody blocks."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, datetime

import pytest

from cryptoflow.records import PriceTick, Trade
from cryptoflow.web.livefeed import (
    LiveFeed,
    sse_message,
    stats_event,
    tick_event,
    trades_event,
)


@pytest.mark.asyncio
async def test_every_subscriber_gets_every_event_in_order() -> None:
    feed = LiveFeed()
    with feed.subscribe() as one, feed.subscribe() as two:
        for i in range(5):
            feed.publish({"n": i})
        assert [(await one.next())["n"] for _ in range(5)] == list(range(5))
        assert [(await two.next())["n"] for _ in range(5)] == list(range(5))
    assert feed.subscribers == set()


@pytest.mark.asyncio
async def test_a_slow_client_loses_its_oldest_events_and_the_producer_never_waits() -> None:
    feed = LiveFeed(maxlen=3)
    with feed.subscribe() as slow:
        for i in range(1000):
            feed.publish({"n": i})  # returns at once: nothing awaits a reader
        assert slow.dropped == 997
        assert [(await slow.next())["n"] for _ in range(3)] == [997, 998, 999]


@pytest.mark.asyncio
async def test_a_waiting_client_wakes_on_the_next_event() -> None:
    feed = LiveFeed()
    with feed.subscribe() as client:
        waiting = asyncio.create_task(client.next())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        feed.publish({"type": "tick"})
        assert await asyncio.wait_for(waiting, 1) == {"type": "tick"}


def test_events_serialise_as_one_sse_data_line() -> None:
    tick = PriceTick(symbol="BTCUSDT", price=67234.5,
                     ts=datetime(2026, 11, 24, 0, 0, 0, 123000, tzinfo=UTC))
    message = sse_message(tick_event(tick))
    assert message.endswith(b"\n\n") and message.count(b"\n") == 2
    assert message.startswith(b"data: ")
    assert json.loads(message[6:]) == {
        "type": "tick", "symbol": "BTCUSDT", "price": 67234.5, "ts": "2026-11-24T00:00:00.123Z"}
    assert stats_event("ETHUSDT", "1m", {"count": 2})["type"] == "stats"


def test_a_trades_event_counts_raw_trades_and_carries_the_written_candles() -> None:
    trades = [Trade("BTCUSDT", 7, 100.0, 0.5, 10, 12, 1_764_547_200_123, False),
              Trade("BTCUSDT", 8, 101.0, 0.25, 13, 13, 1_764_547_200_456, True)]
    candle = {"start": "2025-12-01T00:00:00.000Z", "open": 100.0, "high": 101.0,
              "low": 100.0, "close": 101.0, "volume": 0.75, "trades": 4, "closed": False}
    event = json.loads(sse_message(trades_event("BTCUSDT", trades, [candle]))[6:])
    assert event == {"type": "trades", "symbol": "BTCUSDT", "count": 2, "trades": 4,
                     "volume": 0.75, "price": 101.0, "ts": "2025-12-01T00:00:00.456Z",
                     "candles": [candle]}


def test_a_number_that_is_not_finite_is_sent_as_null() -> None:
    message = sse_message(stats_event("BTCUSDT", "1h", {"count": 2, "stddev": math.inf,
                                                        "mean": math.nan, "min": 1.5}))
    body = json.loads(message[6:], parse_constant=lambda constant: pytest.fail(constant))
    assert (body["stddev"], body["mean"], body["min"]) == (None, None, 1.5)


@pytest.mark.asyncio
async def test_close_ends_every_subscription_now_and_to_come() -> None:
    feed = LiveFeed()
    with feed.subscribe() as client:
        feed.publish({"n": 1})
        waiting = asyncio.create_task(client.next())
        assert await asyncio.wait_for(waiting, 1) == {"n": 1}
        waiting = asyncio.create_task(client.next())
        await asyncio.sleep(0.01)
        feed.close()
        assert await asyncio.wait_for(waiting, 1) is None  # woken, told the feed ended
    with feed.subscribe() as late:
        assert await asyncio.wait_for(late.next(), 1) is None


def test_the_feed_is_full_at_its_number_of_clients() -> None:
    feed = LiveFeed(clients=2)
    with feed.subscribe(), feed.subscribe():
        assert feed.full
    assert not feed.full
