"""Compatibility with the local broker (Tansu), in one place; real Kafka never uses it.

Tansu 0.6 answers ListOffsets(latest) after a batched write with the first offset
of the partition's last batch + 1, not with its end (docs/development/local-stack.md). faust takes
that answer as the end of a changelog when it recovers a table, stops early, and
a restarted worker silently loses the newest table updates. One record per
producer batch would avoid it but caps the worker's producer at ~3,200 records/s;
instead, with ``CRYPTOFLOW_BROKER_FLAVOR=tansu`` (the local stack sets it), the
worker's consumer asks for the true end: a fetch from E-1 returns the partition's
last batch whole, and the end is the offset after its last record. The same flavor
shortens the consumer's fetch wait, which Tansu does not cut short when records
arrive (see ``TansuConsumerThread``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from cryptoflow.broker.transport import (
    CryptoflowConsumer,
    CryptoflowConsumerThread,
    CryptoflowTransport,
)

log = logging.getLogger(__name__)

# How long one fetch waits for records that are not there: the scan ends with an
# empty answer, so this is paid once per recovery.
EMPTY_FETCH_WAIT_MS = 100
SCAN_TIMEOUT = 10.0
FETCH_MAX_WAIT_MS = 100


async def true_end_offsets(bootstrap: Sequence[str], reported: Mapping[TP, int]) -> dict[TP, int]:
    """The real end of every partition whose reported end ``E`` is > 0.

    Reads on until every such partition has answered and a fetch finds nothing
    more. Where the record at E-1 cannot be read within ``SCAN_TIMEOUT``, the
    reported end stands, and a warning says so."""
    ends = dict(reported)
    unseen = {tp for tp, end in reported.items() if end > 0}
    if not unseen:
        return ends
    consumer = AIOKafkaConsumer(
        bootstrap_servers=list(bootstrap), enable_auto_commit=False,
        fetch_max_wait_ms=EMPTY_FETCH_WAIT_MS,
    )
    await consumer.start()
    try:
        consumer.assign(list(unseen))
        for tp in unseen:
            consumer.seek(tp, reported[tp] - 1)
        deadline = time.monotonic() + SCAN_TIMEOUT
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=2 * EMPTY_FETCH_WAIT_MS)
            for part, records in batches.items():
                tp = TP(part.topic, part.partition)
                ends[tp] = max(ends[tp], records[-1].offset + 1)
                unseen.discard(tp)
            if not batches and not unseen:
                break
        if unseen:
            log.warning("local broker: no record before the reported end of %s; "
                        "taking the reported end", sorted(unseen))
    finally:
        await consumer.stop()
    return ends


class TansuConsumerThread(CryptoflowConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # faust fixes the fetch wait at 1.5 s. Kafka answers a fetch as soon as any
        # record is there; Tansu was measured holding it for the whole wait once a
        # consumer reads many partitions (50 symbols: p50 620 ms from poll to
        # MongoDB, 240 ms with this). aiokafka reads the value when it starts.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        reported = await super()._highwaters(partitions)
        transport = cast(faust_aiokafka.Transport, self.transport)  # TansuTransport is one
        bootstrap = faust_aiokafka.server_list(transport.url, transport.default_port)
        return await true_end_offsets(bootstrap, reported)


class TansuConsumer(CryptoflowConsumer):
    def _new_consumer_thread(self) -> TansuConsumerThread:
        return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)


class TansuTransport(CryptoflowTransport):
    """faust's aiokafka transport, with table recovery reading Tansu's true end offsets."""

    Consumer = TansuConsumer
