"""The local broker's end offsets, corrected: what table recovery relies on."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from faust.types import TP

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.tansu import true_end_offsets


async def _write_and_measure(bootstrap: str) -> tuple[dict[TP, int], dict[TP, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    try:
        for i in range(10):  # one record per batch
            await producer.send_and_wait("changes", f"one-{i}".encode(), partition=0)
        batched = [await producer.send("changes", f"batch-{i}".encode(), partition=0)
                   for i in range(10)]  # one batch of ten
        await asyncio.gather(*batched)
        for i in range(3):
            await producer.send_and_wait("changes", f"alone-{i}".encode(), partition=1)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition("changes", 0), TopicPartition("changes", 1)]
        reported = {TP(tp.topic, tp.partition): end
                    for tp, end in (await consumer.end_offsets(parts)).items()}
    finally:
        await consumer.stop()
    reported[TP("empty", 0)] = 0
    return reported, await true_end_offsets([bootstrap], reported)


def test_true_end_offsets_count_every_record_of_a_batched_write(stack: LocalStack) -> None:
    reported, ends = asyncio.run(_write_and_measure(f"127.0.0.1:{stack.kafka_port}"))
    assert ends[TP("changes", 0)] == 20  # ten alone, then ten in one batch
    assert ends[TP("changes", 1)] == 3 == reported[TP("changes", 1)]
    assert ends[TP("empty", 0)] == 0
