"""The lean Prometheus sensor exports what faust's own does, through rebalances too."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from cryptoflow.metrics import LeanPrometheusMonitor


class Stream:
    """What the sensor reads of a faust stream (hashable, as streams are)."""

    def __init__(self, label: str) -> None:
        self.shortlabel = f"Stream: {label}"
        self.task_owner = self


TABLES = [SimpleNamespace(name="trade-candles"), SimpleNamespace(name="trade-stats-1m")]
STREAMS = [Stream("trades"), Stream("book")]


def traffic(monitor: PrometheusMonitor, rounds: int, first_offset: int) -> None:
    """Every per-record hook, over two topics of two partitions, two tables, two streams."""
    for number in range(rounds):
        offset = first_offset + number
        for topic in ("trades", "book"):
            for partition in (0, 1):
                tp = TP(topic, partition)
                monitor.on_message_in(tp, offset, SimpleNamespace())
                monitor.on_stream_event_in(tp, offset, STREAMS[partition], None)
                monitor.track_tp_end_offset(tp, offset + 10)
                monitor.on_send_initiated(None, topic, None, 5, 50)
        for table in TABLES:
            monitor.on_table_get(table, "BTCUSDT")
            monitor.on_table_set(table, "BTCUSDT", 1)
        monitor.on_table_del(TABLES[number % 2], "ETHUSDT")


def exported(monitor_type: type[PrometheusMonitor], moves: list[tuple[int, int]]) -> bytes:
    registry = CollectorRegistry()
    monitor = monitor_type(metrics=FaustMetrics.create(registry, "cryptoflow"))
    app: Any = SimpleNamespace(rebalancing_count=1)
    for rounds, first_offset in moves:
        traffic(monitor, rounds, first_offset)
        monitor.on_rebalance_end(app, monitor.on_rebalance_start(app))  # clears the topics
    traffic(monitor, 3, 1000)
    return b"\n".join(  # without the clocks: creation times, latencies
        line for line in generate_latest(registry).splitlines()
        if not line.startswith((b"#", b"cryptoflow_rebalance")) and b"_created" not in line)


def test_the_lean_sensor_exports_what_faust_s_exports() -> None:
    moves = [(4, 0), (2, 100)]
    lean = exported(LeanPrometheusMonitor, moves)
    assert lean == exported(PrometheusMonitor, moves)
    assert b'cryptoflow_topic_partition_end_offset{partition="1",topic="book"} 1012.0' in lean
    assert (b'cryptoflow_table_operations_total{operation="keys_updated",'
            b'table="table.trade-candles"} 9.0') in lean


def test_after_a_rebalance_the_removed_series_come_back() -> None:
    """faust removes the topic series at a rebalance; a kept one must not outlive that."""
    lean = exported(LeanPrometheusMonitor, [(2, 0)])
    assert b'cryptoflow_messages_received_per_topic_total{topic="trades"} 6.0' in lean
    assert b'cryptoflow_topic_messages_sent_total{topic="topic.book"} 6.0' in lean
