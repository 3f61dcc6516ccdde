"""Seeking back to committed offsets re-reads partitions that never had a commit."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from cryptoflow.broker.transport import seek_to_committed_or_beginning
from cryptoflow.devstack.localstack import LocalStack

FRESH = TopicPartition("ticks", 0)  # no committed offset
COMMITTED = TopicPartition("ticks", 1)  # committed at 4
CHANGELOG = TopicPartition("changelog", 0)  # not a stream's topic: left where it is


async def _positions_after_seek(bootstrap: str) -> tuple[dict[TopicPartition, int], ...]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for tp in (FRESH, COMMITTED, CHANGELOG):
            for i in range(10):
                await producer.send_and_wait(tp.topic, f"{i}".encode(), partition=tp.partition)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="transport-test",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([FRESH, COMMITTED, CHANGELOG])
        await consumer.commit({COMMITTED: OffsetAndMetadata(4, "")})
        read = 0
        while read < 26:  # the fetcher runs ahead: 10 + 6 + 10 records
            batches = await consumer.getmany(timeout_ms=1000)
            read += sum(len(records) for records in batches.values())
        ahead = {tp: await consumer.position(tp) for tp in (FRESH, COMMITTED, CHANGELOG)}

        await consumer.seek_to_committed()  # what faust calls
        plain = {tp: await consumer.position(tp) for tp in (FRESH, COMMITTED, CHANGELOG)}

        for tp, offset in ahead.items():
            consumer.seek(tp, offset)
        await seek_to_committed_or_beginning(consumer, {"ticks"})
        fixed = {tp: await consumer.position(tp) for tp in (FRESH, COMMITTED, CHANGELOG)}
    finally:
        await consumer.stop()
    return ahead, plain, fixed


def test_a_partition_without_a_commit_is_read_again_from_its_beginning(
    stack: LocalStack,
) -> None:
    ahead, plain, fixed = asyncio.run(
        _positions_after_seek(f"127.0.0.1:{stack.kafka_port}"))
    assert ahead == {FRESH: 10, COMMITTED: 10, CHANGELOG: 10}
    # aiokafka leaves a partition without a commit where the fetcher got to: records
    # faust had dropped there would never be read again.
    assert plain == {FRESH: 10, COMMITTED: 4, CHANGELOG: 10}
    assert fixed == {FRESH: 0, COMMITTED: 4, CHANGELOG: 10}
