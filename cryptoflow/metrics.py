"""cryptoflow's own Prometheus metrics, beside faust's (both served at /metrics).

Declared once here, in prometheus-client's default registry, so that the Grafana
dashboard in deploy/ and the code agree on one list of names. Label values are
bounded: symbols and collections come from the settings, error kinds from the
exception classes, dead-letter reasons from a fixed set of kinds (``reason_label``).
"""

from __future__ import annotations

import weakref
from typing import Any, cast

import faust
from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import PrometheusMonitor, setup_prometheus_sensors
from faust.types import TP, CollectionT, EventT, StreamT
from faust.types.transports import ProducerT
from faust.types.tuples import Message, PendingMessage
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

TICKS_FETCHED = Counter(
    "cryptoflow_ticks_fetched", "Prices fetched from the exchange and published", ["symbol"])
FETCH_ERRORS = Counter(
    "cryptoflow_fetch_errors", "Failed price requests, by kind of failure", ["kind"])
LAST_POLL_SUCCESS = Gauge(
    "cryptoflow_last_poll_success_timestamp_seconds", "Unix time of the last successful poll")
PRICE = Gauge("cryptoflow_price", "Last price fetched", ["symbol"])
TICKS_PERSISTED = Counter(
    "cryptoflow_ticks_persisted", "Ticks newly written to MongoDB", ["collection"])
DUPLICATES_SKIPPED = Counter(
    "cryptoflow_duplicates_skipped", "Redelivered ticks already in MongoDB", ["collection"])
BATCH_WRITE_SECONDS = Histogram(
    "cryptoflow_batch_write_seconds", "Time to write one batch, retries included",
    ["collection"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TRADES_RECEIVED = Counter(
    "cryptoflow_trades_received", "Aggregate trades handed on to Kafka, by source",
    ["source"])  # "stream" or "rest" (gap fills)
TRADES_PERSISTED = Counter(
    "cryptoflow_trades_persisted", "Aggregate trades newly written to MongoDB")
TRADE_GAPS = Counter(
    "cryptoflow_trade_gaps", "Gaps in a trade stream, by outcome", ["outcome"])  # filled|unfilled
TRADES_UNFILLED = Counter(
    "cryptoflow_trades_unfilled", "Aggregate trade ids recorded as an unfilled gap")
LATE_TRADES = Counter(
    "cryptoflow_late_trades", "Trades timed before their symbol's forming candle: in no candle")
STREAM_RECONNECTS = Counter(
    "cryptoflow_stream_reconnects", "Times a Binance stream connection was reopened")
STREAMS_UP = Gauge(
    "cryptoflow_stream_connections_up", "Binance stream connections open on this worker")
STREAM_FAILURES = Counter(
    "cryptoflow_stream_failures",
    "Times handling a stream failed unforeseen (logged with its traceback; reopened)")
TRADES_DROPPED = Counter(
    "cryptoflow_trades_dropped", "Live trades not handed on, by why", ["reason"],
)  # already_recorded (an id handed on before) | implausible (an id far off, unconfirmed)
SEQUENCE_RESETS = Counter(
    "cryptoflow_trade_sequence_resets",
    "Times a symbol's trade ids moved far off and stayed there, by direction", ["direction"],
)  # ahead | back
JOB_RUNS = Counter("cryptoflow_job_runs", "Scheduled job runs, by job and outcome",
                   ["job", "outcome"])
JOB_DOCUMENTS = Counter(
    "cryptoflow_job_documents", "Documents a job wrote (the retention job: deleted)", ["job"])
LIVE_FEED_SKIPPED = Counter(
    "cryptoflow_live_feed_skipped", "Records on cryptoflow-ticks the live feed could not read")
DEAD_LETTERS = Counter(
    "cryptoflow_dead_letters", "Records set aside as dead letters", ["reason"])


# The kind of a dead letter, by how its reason starts (cryptoflow.records, the poller,
# the MongoDB sink); any other reason (a forged letter's, say) is "other". Labels
# come from this fixed set only, never from the letter: the full reason stays in it.
REASON_KINDS: tuple[tuple[str, str], ...] = (
    ("message too large", "too_large"),
    ("empty message", "not_json"),
    ("not JSON", "not_json"),
    ("expected a JSON object", "not_json"),
    ("missing field", "missing_field"),
    ("unknown symbol", "unknown_symbol"),
    ("symbol must be", "unknown_symbol"),
    ("Binance answered for a symbol", "unknown_symbol"),
    ("price ", "bad_price"),
    ("ts ", "bad_ts"),
    ("source must be", "bad_source"),
    ("database rejected", "database_rejected"),
    # streamed market data (cryptoflow/records.py, cryptoflow/sources/market.py)
    ("stream frame", "bad_frame"),
    ("a stream this worker did not ask for", "bad_frame"),
    ("stream ", "bad_frame"),
    ("'p' (price)", "bad_price"),
    ("book price", "bad_price"),
    ("'", "bad_field"),
    ("last trade id", "bad_field"),
    ("crossed or empty book", "bad_field"),
    ("'n', 'sum_bps'", "bad_field"),
    ("wrong partition", "wrong_partition"),
    ("implausible trade id", "implausible"),
    ("trade ids went back", "sequence_reset"),
)
OTHER_REASON = "other"
REASON_LABELS = frozenset(kind for _, kind in REASON_KINDS) | {OTHER_REASON}


def reason_label(reason: str) -> str:
    """'unknown symbol 'X'' -> 'unknown_symbol': the kind of reason, one of REASON_LABELS."""
    return next((kind for start, kind in REASON_KINDS if reason.startswith(start)),
                OTHER_REASON)


class LeanPrometheusMonitor(PrometheusMonitor):
    """faust's Prometheus sensor, the same series, with each labelled series looked up once.

    faust's sensor calls prometheus_client's ``labels()`` (a lock, the label values
    turned to strings, a dict lookup) for every message received and sent and every
    table read and write: 6.6 % of the event loop's samples while 2,000 trades/s
    streamed (bench/README.md). The labels come from fixed sets (this app's topics,
    partitions, tables and streams), so the labelled series are kept here, and dropped
    whenever faust removes them (at a rebalance), so no update goes to a removed one.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._series: dict[tuple[MetricWrapperBase, tuple[Any, ...]], Any] = {}
        self._stream_labels: weakref.WeakKeyDictionary[StreamT, str] = (
            weakref.WeakKeyDictionary())

    def _labelled(self, metric: MetricWrapperBase, *values: Any) -> Any:
        key = (metric, values)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = metric.labels(*values)
        return series

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        Monitor.on_message_in(self, tp, offset, message)
        self._metrics.messages_received.inc()
        self._metrics.active_messages.inc()
        self._labelled(self._metrics.messages_received_per_topics, tp.topic).inc()
        self._labelled(self._metrics.messages_received_per_topics_partition,
                       tp.topic, tp.partition).set(offset)

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT, event: EventT,
    ) -> dict[str, Any] | None:
        state = Monitor.on_stream_event_in(self, tp, offset, stream, event)
        self._metrics.total_events.inc()
        self._metrics.total_active_events.inc()
        label = self._stream_labels.get(stream)
        if label is None:
            label = self._stream_labels[stream] = f"stream.{self._stream_label(stream)}.events"
        self._labelled(self._metrics.total_events_per_stream, label).inc()
        return state

    def _table_operation(self, table: CollectionT, operation: str) -> None:
        self._labelled(self._metrics.table_operations, f"table.{table.name}", operation).inc()

    def on_table_get(self, table: CollectionT, key: Any) -> None:
        Monitor.on_table_get(self, table, key)
        self._table_operation(table, self.KEYS_RETRIEVED)

    def on_table_set(self, table: CollectionT, key: Any, value: Any) -> None:
        Monitor.on_table_set(self, table, key, value)
        self._table_operation(table, self.KEYS_UPDATED)

    def on_table_del(self, table: CollectionT, key: Any) -> None:
        Monitor.on_table_del(self, table, key)
        self._table_operation(table, self.KEYS_DELETED)

    def on_send_initiated(
        self, producer: ProducerT, topic: str, message: PendingMessage,
        keysize: int, valsize: int,
    ) -> Any:
        self._labelled(self._metrics.topic_messages_sent, f"topic.{topic}").inc()
        return Monitor.on_send_initiated(self, producer, topic, message, keysize, valsize)

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        Monitor.track_tp_end_offset(self, tp, offset)
        self._labelled(self._metrics.topic_partition_end_offset,
                       tp.topic, tp.partition).set(offset)

    def _clear_partition_related_metrics(self) -> None:
        super()._clear_partition_related_metrics()
        self._series.clear()


def prometheus_sensors(app: faust.App) -> None:
    """faust's own metrics (consumer offsets, rebalances, ...) and ours, at /metrics,
    recorded by the lean sensor above."""
    setup_prometheus_sensors(app, name_prefix="cryptoflow")
    # setup_prometheus_sensors made app.monitor faust's PrometheusMonitor
    app.monitor = LeanPrometheusMonitor(metrics=cast(PrometheusMonitor, app.monitor)._metrics)
