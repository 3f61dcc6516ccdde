"""Long history reads in a crowd: each answered or refused with a 503 JSON error, the
database never asked more than CRYPTOFLOW_WEB_READS queries at once, and identical
requests share one query."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.database import Database

from cryptoflow.records import PriceTick, to_millis
from tests.integration.conftest import WorkerProcess, get

CLIENTS = 24
HISTORY = "/api/prices/history/BTCUSDT/?minutes="


def crowd(worker: WorkerProcess, paths: list[str]) -> list[tuple[int, str | None, Any]]:
    """GET every path at the same moment, one thread each: (status, Retry-After, body)."""
    answers: list[tuple[int, str | None, Any]] = []
    start = threading.Barrier(len(paths))

    def client(path: str) -> None:
        url = f"http://127.0.0.1:{worker.web_port}{path}"
        start.wait()
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                answers.append((response.status, None, json.loads(response.read())))
        except urllib.error.HTTPError as err:
            answers.append((err.code, err.headers.get("Retry-After"), json.loads(err.read())))

    threads = [threading.Thread(target=client, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(answers) == len(paths)
    return answers


def test_a_crowd_of_history_requests_gets_answers_or_503_and_the_reads_stay_bounded(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
) -> None:
    now = datetime.now(UTC)
    mongo["btc"].insert_many([  # a full history answer (5,000 ticks) takes a while here
        PriceTick(symbol="BTCUSDT", price=60_000.0 + i,
                  ts=to_millis(now - timedelta(milliseconds=500 * i))).to_document()
        for i in range(5000)])
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0", CRYPTOFLOW_WEB_READS="2",
                          CRYPTOFLOW_WEB_READS_QUEUE="3")

    # distinct minutes: no two share a query, so at most 2 run and 3 wait
    answers = crowd(worker, [f"{HISTORY}{60 + i}" for i in range(CLIENTS)])
    statuses = {status for status, _, _ in answers}
    assert statuses <= {200, 503}, statuses
    refused = [(retry, body) for status, retry, body in answers if status == 503]
    assert all(retry and body["error"]["status"] == 503 for retry, body in refused), refused[:2]
    assert all(len(body["ticks"]) == 5000 for status, _, body in answers if status == 200)
    _, health = get(worker, "/api/health/")
    reads = health["web_reads"]
    assert reads["rejected"] == len(refused) > 0, reads
    assert reads["peak"] == 2, reads
    assert (reads["running"], reads["waiting"]) == (0, 0)

    # the same request from the whole crowd: one query answers all of them, none refused
    answers = crowd(worker, [f"{HISTORY}1440"] * CLIENTS)
    assert [status for status, _, _ in answers] == [200] * CLIENTS
    assert all(len(body["ticks"]) == 5000 for _, _, body in answers)
    assert get(worker, "/api/health/")[1]["web_reads"]["rejected"] == len(refused)
