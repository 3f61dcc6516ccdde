"""The Kafka topics and what goes onto them.

Symbol topics (``btc``, ``eth``, ``sol``, ...) carry the documented JSON ticks
with the symbol as key; they are read and written as raw bytes, because other
producers write to them too and every value must pass ``parse_tick`` first. Their
names are the original design's, shared by every deployment on the broker.
The app's own topics are its deployment's: ``{prefix}-trades``, ``-book``,
``-deadletter``, ``-ticks`` and ``-alerts``, the prefix ``CRYPTOFLOW_TOPIC_PREFIX``
(the app id unless set), so two deployments on one broker never read each other's.
Every topic is declared with ``topic_partitions`` partitions, so none is
auto-created with the broker's default count.

Stored ticks go on to ``{prefix}-ticks``, a symbol's of one batch in one record,
each with where it was read from (its origin: ``topic/partition/offset`` in its
symbol topic): the identity by which the statistics count each stored tick once
(``tables/stats.py``).

Dead letters keep the refused value byte for byte, with the reason and where it
came from in headers (the Kafka Connect convention), so nothing is lost. Every
send waits for the broker's acknowledgement and is retried until it comes; a
batch's letters are sent together and waited for once (``send_dead_letters``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from faust.types import TopicT

from cryptoflow.app import app
from cryptoflow.backoff import Backoff
from cryptoflow.records import (
    PriceTick,
    StoredTicks,
    format_ts,
    stored_ticks_records,
)
from cryptoflow.settings import topic_name
from cryptoflow.tables.jumps import Alert
from cryptoflow.tables.stats import Sighting

log = logging.getLogger(__name__)

SEND_BACKOFF = Backoff(base=0.1, cap=5.0)
REASON_HEADER = "cryptoflow-reason"
ORIGIN_HEADER = "cryptoflow-origin"

TICK_ORIGIN = re.compile(rb"(?P<topic>[A-Za-z0-9._-]{1,249})/(?P<partition>[0-9]{1,9})"
                         rb"/(?P<offset>[0-9]{1,19})")

StoredTick = tuple[PriceTick, str]  # a stored tick, and its origin (message_origin)


def _raw_topic(*names: str) -> TopicT:
    """A topic read and written raw (bytes), with the configured partitions."""
    return app.topic(*names, key_serializer="raw", value_serializer="raw",
                     partitions=app.settings.topic_partitions)


tick_topics = {
    symbol: _raw_topic(topic_name(symbol)) for symbol in app.settings.tick_symbols
}
SYMBOL_TOPICS = frozenset(topic.get_topic_name() for topic in tick_topics.values())
all_tick_topics = _raw_topic(*(topic.get_topic_name() for topic in tick_topics.values()))
deadletter_topic = _raw_topic(app.settings.own_topic("deadletter"))
# Validated, stored ticks, a symbol's of one batch in one record (records.py has the
# format), keyed by symbol in JSON like the tables' changelogs, so they update the
# tables on the worker that owns the symbol. Read raw: each value is checked first.
ticks_topic = app.topic(
    app.settings.own_topic("ticks"), key_type=str, key_serializer="json", value_serializer="raw",
    partitions=app.settings.topic_partitions,
)

alerts_topic = app.topic(
    app.settings.own_topic("alerts"), key_type=str, key_serializer="json", value_type=Alert,
    partitions=app.settings.topic_partitions,
)


Send = Callable[..., Awaitable[Awaitable[Any]]]  # keyword arguments -> the delivery


async def deliver(
    topic: TopicT, messages: list[dict[str, Any]], send: Send | None = None,
) -> None:
    """Send ``messages`` (``send()`` keyword arguments; ``topic.send`` unless told) and
    return once the broker has every one; a failed delivery is sent again with backoff,
    for as long as it takes (until the worker stops), so a price in hand or a batch about
    to be acknowledged is never dropped."""
    send = send or topic.send
    delays = SEND_BACKOFF.delays()
    pending = messages
    while pending:
        deliveries = [await send(**message) for message in pending]
        results = await asyncio.gather(*deliveries, return_exceptions=True)
        failed = [(m, r) for m, r in zip(pending, results, strict=True)
                  if isinstance(r, KafkaError)]
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, KafkaError):
                raise result
        pending = [message for message, _ in failed]
        if failed and app.should_stop:
            # Stopping: leave the batch unacknowledged (it is read again after the
            # restart) instead of holding the shutdown forever.
            raise failed[0][1]
        if failed:
            delay = next(delays)
            log.warning("Kafka: %d message(s) to %s not delivered (%r); again in %.1fs",
                        len(failed), topic.get_topic_name(), failed[0][1], delay)
            await asyncio.sleep(delay)


async def send_tick(tick: PriceTick) -> None:
    await deliver(tick_topics[tick.symbol],
                  [{"key": tick.symbol.encode(), "value": tick.to_wire()}])


async def forward_stored_ticks(ticks: list[StoredTick]) -> None:
    """Hand stored ticks on to the tables, in order, each with its origin: one record
    per symbol (split past STORED_TICKS_RECORD_BYTES); returns once the broker has them.
    A tick read again (after a stop, a crash or a rebalance) is handed on again with the
    same origin, so the tables can tell (``uncounted``)."""
    by_symbol: dict[str, list[StoredTick]] = {}
    for stored in ticks:
        by_symbol.setdefault(stored[0].symbol, []).append(stored)
    await deliver(ticks_topic, [
        {"key": symbol, "value": value}
        for symbol, group in by_symbol.items() for value in stored_ticks_records(group)
    ])


def sightings(record: StoredTicks) -> list[tuple[PriceTick, Sighting | None]]:
    """The ticks of a ``{prefix}-ticks`` message, each as the tables count it: ``None``
    where its origin names no position in a symbol topic (no worker sent it)."""
    return [(tick, _sighting(tick, origin.encode())) for tick, origin in record.ticks]


def _sighting(tick: PriceTick, origin: bytes) -> Sighting | None:
    found = TICK_ORIGIN.fullmatch(origin)
    if found is None or found["topic"].decode() not in SYMBOL_TOPICS:
        return None
    return Sighting(tick, f"{found['topic'].decode()}/{int(found['partition'])}",
                    int(found["offset"]))


class DeadLetter(NamedTuple):
    """A refused value, why, and where it came from (``origin`` identifies it, so a
    resend stores it once)."""

    value: bytes | None
    reason: str
    origin: str
    key: bytes | None = None


async def send_dead_letters(letters: Sequence[DeadLetter]) -> None:
    """Set refused values aside, in order; returns once the broker has every one (one
    wait for all of them, so a batch of refused records costs what a batch of good
    ones does)."""
    if letters:
        await deliver(deadletter_topic, [{
            "key": letter.key, "value": letter.value,
            "headers": {REASON_HEADER: letter.reason.encode(),
                        ORIGIN_HEADER: letter.origin.encode()},
        } for letter in letters])


async def send_dead_letter(
    value: bytes | None, reason: str, origin: str, key: bytes | None = None,
) -> None:
    """Set one refused value aside (``send_dead_letters``)."""
    await send_dead_letters([DeadLetter(value, reason, origin, key)])


def message_origin(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}/{offset}"


def quote_origin(symbol: str, ts: datetime) -> str:
    return f"binance/{symbol}/{format_ts(ts)}"


# Streamed market data (cryptoflow/records.py has the wire formats). One topic per kind,
# not per symbol: hundreds of symbols stream. Keys are the symbol as JSON, like the
# tables' changelogs, and every message is sent to the partition that key hashes to, so
# a symbol's trades are read on the worker that holds its tables. They are read raw:
# anyone may write here, and each message is checked (partition included) first.
trades_topic = _raw_topic(app.settings.own_topic("trades"))
book_topic = _raw_topic(app.settings.own_topic("book"))
_partitioner = DefaultPartitioner()


def symbol_key(symbol: str) -> bytes:
    return json.dumps(symbol).encode()


@functools.lru_cache(maxsize=4096)  # asked per record; symbols are the configured ones
def symbol_partition(symbol: str, partitions: int = app.settings.topic_partitions) -> int:
    """The partition of ``symbol`` in every keyed topic (faust's and Kafka's default
    partitioner over the JSON key)."""
    numbers = list(range(partitions))
    return int(_partitioner(symbol_key(symbol), numbers, numbers))


def owned_symbols() -> set[str] | None:
    """The symbols whose partitions of the market topics this worker holds, and so
    streams and keeps the tables of (None until its tables have recovered)."""
    if not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]  # faust's TableManagerT does not declare recovery
        return None
    topic = (trades_topic if "trades" in app.settings.streams else book_topic).get_topic_name()
    held = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    return {symbol for symbol in app.settings.symbols if symbol_partition(symbol) in held}


async def send_market_data(topic: TopicT, records: list[tuple[str, bytes]]) -> None:
    """Send (symbol, wire value) pairs, in order, each to its symbol's partition.

    Straight to faust's producer, not through ``topic.send``: these are bytes already,
    with the partition known, so faust's per-message future, serialisers and send
    sensor would only cost (a third of the stream reader's share of the event loop at
    2,000 trades/s, bench/README.md); ``cryptoflow_trades_received_total`` counts them."""
    name = topic.get_topic_name()

    async def produce(*, key: bytes, value: bytes, partition: int) -> Awaitable[Any]:
        return await app.producer.send(name, key, value, partition, None, None)

    await deliver(topic, [
        {"key": symbol_key(symbol), "value": value, "partition": symbol_partition(symbol)}
        for symbol, value in records
    ], produce)
