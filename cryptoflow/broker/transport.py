"""faust's aiokafka transport, with one fix: records nobody committed are read again.

faust moves a consumer back to its committed offsets whenever it has read records it
did not hand to a stream: after a rebalance or table recovery, when a getmany
straddles a new generation, when flow was stopped. aiokafka's ``seek_to_committed``
only seeks partitions whose committed offset is > 0, so a partition with none yet (a
new group, or a worker that died before its first commit, seen in fault drill 3)
stays wherever the fetcher got to, and the records faust dropped on the way are
never read: ticks silently missing from MongoDB. Here such partitions of the
streams' topics go back to their beginning, which is where a partition without a
committed offset starts anyway (``auto_offset_reset="earliest"``, faust's default).
Changelog partitions are left alone: table recovery positions them itself.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


def never_committed(
    committed: Mapping[TopicPartition, int | None], topics: Collection[str],
) -> list[TopicPartition]:
    """The partitions of ``topics`` that ``seek_to_committed`` did not move (no
    committed offset, or 0)."""
    return [tp for tp, offset in committed.items() if not offset and tp.topic in topics]


async def seek_to_committed_or_beginning(
    consumer: AIOKafkaConsumer, topics: Collection[str],
) -> dict[TopicPartition, int | None]:
    """``consumer.seek_to_committed()``, and the beginning for partitions of ``topics``
    that have no committed offset; returns the committed offsets, as aiokafka does."""
    committed: dict[TopicPartition, int | None] = await consumer.seek_to_committed()
    unsought = never_committed(committed, topics)
    if unsought:
        await consumer.seek_to_beginning(*unsought)
    return committed


class CryptoflowConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        acking = self.consumer.app.topics.acking_topics
        result: Mapping[TP, int] = await self.call_thread(
            seek_to_committed_or_beginning, consumer, acking)
        return result


class CryptoflowConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> CryptoflowConsumerThread:
        return CryptoflowConsumerThread(self, loop=self.loop, beacon=self.beacon)


class CryptoflowTransport(faust_aiokafka.Transport):
    """The transport of every cryptoflow worker (the local broker's extends it)."""

    Consumer = CryptoflowConsumer
