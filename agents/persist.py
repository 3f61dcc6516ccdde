"""Persist every tick of every symbol topic to MongoDB, in batches, exactly once.

One agent reads all symbol topics (fewer, larger batches than one agent per
topic; faust's per-event cost is the first limit on this path, LOCAL-STACK.md).
Each value passes ``parse_tick``; good ticks are grouped by collection and
written with ``TickStore.insert`` (idempotent, retried until written); refused
ones go to the dead letters; newly stored ones go on to ``cryptoflow-ticks`` for
the tables (a redelivered duplicate does not, so statistics count it once).
Offsets are acknowledged only after all three.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from cryptoflow import metrics
from cryptoflow.agents.batches import written_batches
from cryptoflow.app import app
from cryptoflow.exceptions import InvalidTick
from cryptoflow.records import PriceTick, parse_tick
from cryptoflow.settings import topic_name
from cryptoflow.store import WriteOutcome
from cryptoflow.topics import (
    all_tick_topics,
    forward_stored_ticks,
    message_origin,
    send_dead_letter,
)

log = logging.getLogger(__name__)

collections = {symbol: topic_name(symbol) for symbol in app.settings.symbols}


async def write(collection: str, documents: list[dict[str, Any]]) -> WriteOutcome:
    with metrics.BATCH_WRITE_SECONDS.labels(collection).time():
        return await app.store.insert(collection, documents)


@app.agent(all_tick_topics)
async def persist_ticks(stream: Any) -> None:
    await app.store.ensure_tick_indexes(collections.values())
    await app.store.set_retention(collections.values(), app.settings.retention_days)
    async for events in written_batches(
        stream, app.settings.batch_size, app.settings.batch_linger,
    ):
        documents: dict[str, list[dict[str, Any]]] = defaultdict(list)
        ticks: dict[int, PriceTick] = {}  # id(document) -> its tick
        refused: list[tuple[bytes | None, str, str, bytes | None]] = []
        now = datetime.now(UTC)
        for event in events:
            message = event.message
            try:
                tick = parse_tick(event.value, collections, now)
            except InvalidTick as err:
                origin = message_origin(message.topic, message.partition, message.offset)
                refused.append((event.value, err.reason, origin, event.key))
            else:
                document = tick.to_document()
                ticks[id(document)] = tick
                documents[collections[tick.symbol]].append(document)
        names = list(documents)
        # One collection after the other: on the local database, writing three at once
        # was measured at half the rate (bench/README.md).
        outcomes = [await write(name, documents[name]) for name in names]
        for name, outcome in zip(names, outcomes, strict=True):
            metrics.TICKS_PERSISTED.labels(name).inc(len(outcome.inserted))
            metrics.DUPLICATES_SKIPPED.labels(name).inc(outcome.duplicates)
            for document, reason in outcome.rejected:
                origin = f"{name}/{document['symbol']}/{document['ts'].isoformat()}"
                refused.append((repr(document).encode(), reason, origin, None))
            log.debug("%s: %d stored, %d already there, %d rejected", name,
                      len(outcome.inserted), outcome.duplicates, len(outcome.rejected))
        for value, reason, origin, key in refused:
            await send_dead_letter(value, reason, origin, key)
        await forward_stored_ticks(
            [ticks[id(doc)] for outcome in outcomes for doc in outcome.inserted],
        )
