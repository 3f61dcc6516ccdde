"""A running worker exports every metric the Grafana dashboard queries."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from cryptoflow.devstack.simexchange import Fault, SimExchangeThread
from tests.dashboard_metrics import HISTOGRAM_SUFFIXES, dashboard_metrics
from tests.integration.conftest import WorkerProcess, wait_for


def exported(worker: WorkerProcess) -> set[str]:
    url = f"http://127.0.0.1:{worker.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    names = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            for suffix in HISTOGRAM_SUFFIXES:
                name = name.removesuffix(suffix)
            names.add(name)
    return names


def test_every_dashboard_metric_is_scraped_from_a_live_worker(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker(CRYPTOFLOW_CANDLE_INTERVAL="1", CRYPTOFLOW_BINANCE_BACKOFF_CAP="1")
    exchange.sim.inject(Fault.status(503), Fault.bad_price("SOLUSDT", "NaN"))
    wanted = dashboard_metrics()
    wait_for(lambda: wanted <= exported(worker), timeout=30, what="every dashboard metric")
    assert wanted <= exported(worker)
