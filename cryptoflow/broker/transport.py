"""faust's aiokafka transport, with four fixes: records nobody committed are read again,
a commit never passes a record nobody acknowledged, a jump in the offsets a fetch
delivers is read again before it counts as a gap (``cryptoflow.broker.deliveries``),
and no record reaches a stream between a seek back to the committed offsets and the
resumed flow that empties the streams' queues.

faust moves a consumer back to its committed offsets whenever it has read records it
did not hand to a stream: after a rebalance or table recovery, when a getmany
straddles a new generation, when flow was stopped. aiokafka's ``seek_to_committed``
only seeks partitions whose committed offset is > 0, so a partition with none yet (a
new group, or a worker that died before its first commit, seen in fault drill 3)
stays wherever the fetcher got to, and the records faust dropped on the way are
never read: ticks silently missing from MongoDB. Here such partitions of the
streams' topics go back to their first offset (asked from the broker, so the record
expected next is known, as it is at a committed offset), which is where a partition
without a committed offset starts anyway (``auto_offset_reset="earliest"``, faust's
default). Changelog partitions are left alone: table recovery positions them itself.

At the end of table recovery faust resumes the streams' partitions, seeks them back
to their committed offsets (``perform_seek``) and only then resumes the flow, which
empties every stream's queue (mode's ``FlowControlEvent.resume`` clears the queues it
manages). A record the fetcher hands on in between (the rest of a fetch made before
the seek, or one of the first read after it) counts as read, for faust's read offset
and for the expected offsets, and is then thrown away with the queue, so the copy
read again after the seek is dropped as already read: in fault drill 3 (SIGKILL,
restart) single ticks, once 95 in a row, went missing from MongoDB for good. So
``CryptoflowConsumer`` hands no record of a stream's topic on from the start of a seek
to the committed offsets until the flow is resumed; whatever comes then is checked
against the offsets the seek set (a copy from an older fetch is dropped, one past them
is a jump and read again from them), and the record at the expected offset is handed
on even where a delivery that ended after the seek moved faust's read offset past it.

faust 0.15.3 keeps the committed offset as the next offset to read, but its commit
checks for a gap at the head of the acknowledged offsets with ``min(acked) - committed
> 1`` (and not at all when it is 0): the one record right at the committed offset can
be committed past unacknowledged. It also records a gap in offsets (offsets never
delivered) from committed + 1 and up to and including the record that ends the gap,
which counts that record as done before a stream has seen it. Both showed as single
ticks missing from the statistics after a stop under load. ``CryptoflowConsumer``
commits only once the record at the committed offset is acknowledged or never existed,
and records a gap as exactly the offsets that were skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from cryptoflow.broker.deliveries import DeliveryCheck


def never_committed(
    committed: Mapping[TopicPartition, int | None], topics: Collection[str],
) -> list[TopicPartition]:
    """The partitions of ``topics`` that ``seek_to_committed`` did not move (no
    committed offset, or 0)."""
    return [tp for tp, offset in committed.items() if not offset and tp.topic in topics]


async def seek_to_committed_or_beginning(
    consumer: AIOKafkaConsumer, topics: Collection[str],
) -> tuple[dict[TopicPartition, int | None], dict[TopicPartition, int]]:
    """``consumer.seek_to_committed()``, and the first offset for partitions of
    ``topics`` that have no committed offset; returns the committed offsets, as
    aiokafka does, and the first offsets sought."""
    committed: dict[TopicPartition, int | None] = await consumer.seek_to_committed()
    unsought = never_committed(committed, topics)
    first: dict[TopicPartition, int] = {}
    if unsought:
        first = await consumer.beginning_offsets(unsought)
        for tp, offset in first.items():
            consumer.seek(tp, offset)
    return committed, first


class CryptoflowConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed, _ = await self.seek_to_read_again()
        return committed

    async def seek_to_read_again(self) -> tuple[Mapping[TP, int], Mapping[TP, int]]:
        """``seek_to_committed_or_beginning`` for the streams' topics: the committed
        offsets and the first offsets sought."""
        consumer = self._ensure_consumer()
        acking = self.consumer.app.topics.acking_topics
        result: tuple[Mapping[TP, int], Mapping[TP, int]] = await self.call_thread(
            seek_to_committed_or_beginning, consumer, acking)
        return result


class CryptoflowConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deliveries = DeliveryCheck()
        # Cleared from the start of a seek to the committed offsets until the flow is
        # resumed: meanwhile no record of a stream's topic is handed on.
        self._flowing = asyncio.Event()
        self._flowing.set()

    def _new_consumer_thread(self) -> CryptoflowConsumerThread:
        return CryptoflowConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        self._flowing.clear()
        await super().perform_seek()

    def resume_flow(self) -> None:
        super().resume_flow()
        self._flowing.set()

    async def seek_to_committed(self) -> Mapping[TP, int]:
        thread = cast(CryptoflowConsumerThread, self._thread)
        committed, first = await thread.seek_to_read_again()
        for tp, offset in committed.items():
            # None or 0: read from the partition's first offset, if it was sought
            self._deliveries.sought(tp, offset or first.get(tp))
        return committed

    async def getmany(
        self, timeout: float,  # noqa: ASYNC109 (faust's signature)
    ) -> AsyncIterator[tuple[TP, Message]]:
        rewound: set[TP] = set()
        acking = self.app.topics.acks_enabled_for
        async for tp, message in super().getmany(timeout):
            if not acking(tp.topic):
                yield tp, message
                continue
            await self._flowing.wait()
            if tp in rewound or self._deliveries.handed_on(tp, message.offset):
                continue  # the rest of a fetch from before the rewind; a copy
            again = self._deliveries.rewind_to(tp, message.offset)
            if again is not None:
                self.log.info("%s: offset %d delivered where %d was next; reading again "
                              "from %d", tp, message.offset, again, again)
                rewound.add(tp)
                await self.seek(tp, again)
                continue
            read = self._read_offset[tp]
            if read is not None and read > message.offset:
                # faust's read offset was moved past the record expected next by a
                # delivery that ended after a seek; faust would drop it as read
                self._read_offset[tp] = message.offset
            yield tp, message

    def _new_offset(self, tp: TP) -> int | None:
        committed = self._committed_offset[tp]
        if committed is not None and not self._done(tp, committed):
            return None  # the next record to read is not finished: nothing to commit
        return super()._new_offset(tp)

    def _done(self, tp: TP, offset: int) -> bool:
        """Whether the record at ``offset`` was acknowledged, or is in a gap of offsets
        the broker never delivered."""
        return offset in self._acked_index[tp] or bool(self._gap[tp].overlaps(offset))

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # faust's fetcher passes the offset of the record that ends the gap as its end
        # (inclusive): the gap is the offsets before it, from the committed one on.
        committed = self._committed_offset[tp]
        if committed is not None:
            offset_from = max(offset_from, committed)
        if offset_from < offset_to:
            self._gap[tp].addi(offset_from, offset_to)
        await asyncio.sleep(0)


class CryptoflowTransport(faust_aiokafka.Transport):
    """The transport of every cryptoflow worker (the local broker's extends it)."""

    Consumer = CryptoflowConsumer
