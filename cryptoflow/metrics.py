"""cryptoflow's own Prometheus metrics, beside faust's (both served at /metrics).

Declared once here, in prometheus-client's default registry, so that the Grafana
dashboard in deploy/ and the code agree on one list of names. Label values are
bounded: symbols and collections come from the settings, error kinds from the
exception classes, dead-letter reasons from a fixed set of kinds (``reason_label``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
)
OTHER_REASON = "other"
REASON_LABELS = frozenset(kind for _, kind in REASON_KINDS) | {OTHER_REASON}


def reason_label(reason: str) -> str:
    """'unknown symbol 'X'' -> 'unknown_symbol': the kind of reason, one of REASON_LABELS."""
    return next((kind for start, kind in REASON_KINDS if reason.startswith(start)),
                OTHER_REASON)
