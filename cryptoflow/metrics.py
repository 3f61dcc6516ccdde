"""cryptoflow's own Prometheus metrics, beside faust's (both served at /metrics).

Declared once here, in prometheus-client's default registry, so that the Grafana
dashboard in deploy/ and the code agree on one list of names. Label values are
bounded: symbols and collections come from the settings, error kinds from the
exception classes, dead-letter reasons are cut to their first words.
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
JOB_RUNS = Counter("cryptoflow_job_runs", "Scheduled job runs, by job and outcome",
                   ["job", "outcome"])
JOB_DOCUMENTS = Counter("cryptoflow_job_documents", "Documents a job wrote", ["job"])
LIVE_FEED_SKIPPED = Counter(
    "cryptoflow_live_feed_skipped", "Records on cryptoflow-ticks the live feed could not read")
DEAD_LETTERS = Counter(
    "cryptoflow_dead_letters", "Records set aside as dead letters", ["reason"])


def reason_label(reason: str) -> str:
    """'unknown symbol 'X'' -> 'unknown symbol': the kind of reason, without the value."""
    head = reason.split(":", 1)[0]
    return " ".join(word for word in head.split()[:2] if "'" not in word and '"' not in word)
