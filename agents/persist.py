"""Persist every tick of every symbol topic to MongoDB, in batches, exactly once.

One agent reads all symbol topics (fewer, larger batches than one agent per
topic; faust's per-event cost is the first limit on this path, bench/README.md).
Each value passes ``parse_tick``; good ticks are grouped by collection and
written with ``TickStore.insert`` (idempotent, retried until written), each with
its origin (where it was read: ``topic/partition/offset``); refused ones go to the
dead letters, a batch's together; stored ones go on to ``{prefix}-ticks`` for the
tables, with that origin. A tick MongoDB already held goes on only if the stored
one has this very origin: then this record was written before and read again
(after a stop, a crash or a rebalance, perhaps never forwarded), and the tables
count it unless they hold that origin already. One with another origin is a second
copy of a stored tick (a producer sent it twice) and goes no further. A batch's
offsets are acknowledged only after all three; its forwarding overlaps the writing
of the next batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from faust.types import EventT, StreamT

from cryptoflow import metrics
from cryptoflow.agents.batches import acknowledge, manual_batches
from cryptoflow.app import app
from cryptoflow.broker.topics import (
    DeadLetter,
    StoredTick,
    all_tick_topics,
    forward_stored_ticks,
    message_origin,
    send_dead_letters,
)
from cryptoflow.exceptions import InvalidTick
from cryptoflow.records import PriceTick, parse_tick
from cryptoflow.settings import topic_name
from cryptoflow.sinks.mongo import ORIGIN_FIELD, WriteOutcome

log = logging.getLogger(__name__)

collections = {symbol: topic_name(symbol) for symbol in app.settings.tick_symbols}


async def write(collection: str, documents: list[dict[str, Any]]) -> WriteOutcome:
    with metrics.BATCH_WRITE_SECONDS.labels(collection).time():
        return await app.store.insert(collection, documents)


@app.agent(all_tick_topics)
async def persist_ticks(stream: Any) -> None:
    # Three stages overlap: while batch N is written, batch N+1 is gathered and batch
    # N-1's stored ticks go on to the tables (measured: each stage takes a third of
    # the time of all three). Writes run one at a time and forwards in batch order,
    # and a batch's offsets are acknowledged only after its own forward.
    storing: asyncio.Future[list[StoredTick]] | None = None
    forwarding: asyncio.Future[None] | None = None
    try:
        async for events in manual_batches(
            stream, app.settings.batch_size, app.settings.batch_linger,
        ):
            if storing is not None:
                await storing
            storing = asyncio.ensure_future(store_batch(events))
            forwarding = asyncio.ensure_future(
                forward_and_acknowledge(forwarding, storing, stream, events))
    finally:
        for stage in (storing, forwarding):
            if stage is not None and not stage.done():
                # Stopping: those batches stay unacknowledged and are read again.
                stage.cancel()


async def store_batch(events: Sequence[EventT[bytes]]) -> list[StoredTick]:
    """Write a batch's good ticks and dead-letter the rest; returns, in batch order, the
    stored ticks that this batch's records wrote (now or before), with their origins."""
    documents: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ticks: dict[int, PriceTick] = {}  # id(document) -> its tick
    refused: list[DeadLetter] = []
    now = datetime.now(UTC)
    for event in events:
        message = event.message
        origin = message_origin(message.topic, message.partition, message.offset)
        try:
            tick = parse_tick(event.value, collections, now)
        except InvalidTick as err:
            refused.append(DeadLetter(event.value, err.reason, origin, event.key))
        else:
            document = {**tick.to_document(), ORIGIN_FIELD: origin}
            ticks[id(document)] = tick
            documents[collections[tick.symbol]].append(document)
    stored: list[StoredTick] = []
    # One collection after the other: on the local database, writing three at once
    # was measured at half the rate (bench/README.md).
    for name, batch in documents.items():
        outcome = await write(name, batch)
        metrics.TICKS_PERSISTED.labels(name).inc(len(outcome.inserted))
        metrics.DUPLICATES_SKIPPED.labels(name).inc(len(outcome.duplicates))
        for document, reason in outcome.rejected:
            origin = f"{name}/{document['symbol']}/{document['ts'].isoformat()}"
            refused.append(DeadLetter(repr(document).encode(), reason, origin))
        log.debug("%s: %d stored, %d already there, %d rejected", name,
                  len(outcome.inserted), len(outcome.duplicates), len(outcome.rejected))
        held = await app.store.origins(name, outcome.duplicates)
        written = {id(document) for document in outcome.inserted} | {
            id(document) for document in outcome.duplicates
            if held.get(document["ts"]) == document[ORIGIN_FIELD]}
        stored += [(ticks[id(document)], document[ORIGIN_FIELD])
                   for document in batch if id(document) in written]
    await send_dead_letters(refused)
    return stored


async def forward_and_acknowledge(
    previous: asyncio.Future[None] | None, storing: asyncio.Future[list[StoredTick]],
    stream: StreamT[bytes], events: Sequence[EventT[bytes]],
) -> None:
    """After the previous batch's forward: hand the stored ticks on, then acknowledge."""
    if previous is not None:
        await previous
    await forward_stored_ticks(await storing)
    await acknowledge(stream, events)
