"""Rolling statistics over HTTP, checked against the ticks stored in MongoDB."""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import SimExchangeThread
from cryptoflow.records import PriceTick, format_ts, to_millis
from cryptoflow.web.prepared import encode
from tests.integration.conftest import (
    WorkerProcess,
    assert_accounted_for,
    get,
    served,
    stop_serving,
    stored,
    wait_for,
)

SYMBOLS = {"BTCUSDT": "btc", "ETHUSDT": "eth", "SOLUSDT": "sol"}


def answered(worker: WorkerProcess, path: str) -> Any:
    """The body once the worker answers 200 (it answers 503 while starting)."""
    def probe() -> Any:
        status, body = get(worker, path)
        assert status in (200, 503), (status, body)
        return body if status == 200 else None
    return wait_for(probe, timeout=40, what=f"200 from {path}")


def tables_caught_up(worker: WorkerProcess, mongo: Database[dict[str, Any]]) -> None:
    """Wait until every symbol's latest price is the newest stored one: the stats agent
    updates the latest tick and its windows in one step, so they are current too."""
    def newest() -> list[dict[str, Any]]:
        docs = [mongo[name].find_one(sort=[("ts", -1)]) for name in SYMBOLS.values()]
        return [{"symbol": d["symbol"], "price": d["price"],
                 "ts": d["ts"].isoformat(timespec="milliseconds").replace("+00:00", "Z")}
                for d in docs if d is not None]
    wait_for(lambda: answered(worker, "/api/prices/latest/") == newest(), timeout=20,
             what=f"tables of {worker.log_path.parent.name} caught up")


def owned(worker: WorkerProcess) -> set[int]:
    """The partitions of cryptoflow-ticks (so: the symbols) whose tables ``worker`` holds."""
    status, body = get(worker, "/stats/assignment/")
    return set(body["actives"].get("cryptoflow-ticks", [])) if status == 200 else set()


def wait_until_both_own_partitions(first: WorkerProcess, second: WorkerProcess) -> None:
    wait_for(lambda: owned(first) and owned(second) and not owned(first) & owned(second),
             timeout=60, what="both workers own partitions")


def expected_stats(mongo: Database[dict[str, Any]], symbol: str, body: dict[str, Any]) -> None:
    start = datetime.fromisoformat(body["window"]["start"])
    end = datetime.fromisoformat(body["window"]["end"])
    docs = list(mongo[SYMBOLS[symbol]].find({"ts": {"$gte": start, "$lt": end}}).sort("ts", 1))
    prices = [doc["price"] for doc in docs]
    assert body["price_source"] == "ticks"  # these workers record no streams
    assert body["count"] == len(prices) > 0
    assert body["min"] == min(prices)
    assert body["max"] == max(prices)
    assert math.isclose(body["mean"], statistics.fmean(prices), rel_tol=1e-9)
    assert math.isclose(body["stddev"], statistics.pstdev(prices), rel_tol=1e-9, abs_tol=1e-12)
    assert body["open"] == prices[0]
    assert body["close"] == prices[-1]
    assert math.isclose(body["change_pct"], (prices[-1] - prices[0]) / prices[0] * 100)


def test_stats_equal_what_mongodb_holds_and_bad_requests_get_json_errors(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess],
    mongo: Database[dict[str, Any]],
) -> None:
    worker = start_worker()
    wait_for(lambda: len(exchange.sim.served) >= 6 * 3, what="six polls")
    stop_serving(exchange)
    expected = served(exchange)
    wait_for(lambda: stored(mongo) == expected, what="every served price stored", timeout=20)
    tables_caught_up(worker, mongo)

    for symbol in SYMBOLS:
        for window in ("1m", "5m", "1h"):
            body = answered(worker, f"/api/stats/{symbol.lower()}/?window={window}")
            assert body["symbol"] == symbol
            assert body["window"]["size"] == window
            expected_stats(mongo, symbol, body)

    everything = answered(worker, "/api/stats/?window=1h")
    assert [entry["symbol"] for entry in everything] == list(SYMBOLS)

    for path, method, status in [
        ("/api/stats/DOGEUSDT/", "GET", 404),
        ("/api/stats/BTCUSDT/?window=7m", "GET", 400),
        ("/api/stats/BTCUSDT/?at=not-a-time", "GET", 400),
        ("/api/stats/BTCUSDT/?at=9999-12-31T00:00:00Z", "GET", 400),
        ("/api/stats/BTCUSDT/?at=" + "9" * 5000, "GET", 400),
        ("/api/nothing/here/", "GET", 404),
        ("/api/" + "x" * 3000 + "/", "GET", 404),
        ("/api/stats/BTCUSDT/", "POST", 405),
        ("/api/stats/", "DELETE", 405),
    ]:
        code, body = get(worker, path, method)
        assert code == status, (path, body)
        assert body["error"]["status"] == status
    assert get(worker, "/api/stats/BTCUSDT/")[0] == 200  # still serving
    for faust_page in ("/stats/", "/router/", "/table/"):
        assert get(worker, faust_page)[0] == 200


def burst(symbol: str, start: datetime, count: int) -> list[tuple[bytes | None, bytes | None]]:
    return [
        (symbol.encode(), json.dumps({
            "symbol": symbol, "price": 100 + i % 7,
            "ts": (start + timedelta(milliseconds=10 * i)).isoformat(),
        }).encode())
        for i in range(count)
    ]


def test_a_restarted_worker_recovers_its_windows_exactly(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
    produce: Callable[[str, list[tuple[bytes | None, bytes | None]]], None],
) -> None:
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    produce("btc", burst("BTCUSDT", minute, 300))  # a burst: batched changelog writes
    path = f"/api/stats/BTCUSDT/?at={minute.isoformat().replace('+', '%2B')}"
    wait_for(lambda: get(worker, path)[1].get("count") == 300, what="300 ticks counted")

    assert worker.stop() == 0
    worker.start()
    body = answered(worker, path)
    assert body["count"] == 300
    expected_stats(mongo, "BTCUSDT", body)


def test_two_workers_answer_every_symbol_alike(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess],
    mongo: Database[dict[str, Any]],
) -> None:
    # Ticks start flowing once both workers own their partitions: this test is about
    # routing. Ticks flowing through the rebalance are the next test's.
    stop_serving(exchange)
    first = start_worker("first")
    second = start_worker("second")
    wait_until_both_own_partitions(first, second)
    exchange.sim.clear_faults()
    before = len(exchange.sim.served)
    wait_for(lambda: len(exchange.sim.served) >= before + 6 * 3, what="six polls")
    stop_serving(exchange)
    expected = served(exchange)
    wait_for(lambda: stored(mongo) == expected, what="every served price stored", timeout=20)
    tables_caught_up(first, mongo)

    for symbol in SYMBOLS:
        path = f"/api/stats/{symbol}/?window=1h"
        one, two = answered(first, path), answered(second, path)
        assert one == two
        expected_stats(mongo, symbol, one)
    assert answered(first, "/api/prices/latest/") == answered(second, "/api/prices/latest/")


def test_ticks_written_but_never_forwarded_are_counted_once(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
    produce: Callable[[str, list[tuple[bytes | None, bytes | None]]], None],
) -> None:
    """A worker that stops between writing a batch and forwarding it leaves ticks in
    MongoDB that the tables never saw; read again, they must count (once), even those
    older than ticks counted before them, while a producer's second copy of a counted
    tick must not."""
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    ticks = burst("ETHUSDT", hour, 10)
    path = f"/api/stats/ETHUSDT/?window=1h&at={hour.isoformat().replace('+', '%2B')}"
    produce("eth", [*ticks[:2], *ticks[4:7]])  # offsets 0-4 of ETHUSDT's partition
    wait_for(lambda: get(worker, path)[1].get("count") == 5, what="5 ticks counted")

    # What a stopped worker had written, with their origins, and not forwarded: records
    # at offsets 6-8 of that partition (two late ticks, one new), read again below.
    partition = DefaultPartitioner()(b"ETHUSDT", list(range(4)), list(range(4)))
    written = {6: ticks[2], 7: ticks[3], 8: ticks[7]}
    mongo["eth"].insert_many([
        {**PriceTick(symbol="ETHUSDT", price=body["price"],
                     ts=datetime.fromisoformat(body["ts"])).to_document(),
         "origin": f"eth/{partition}/{offset}"}
        for offset, body in ((o, json.loads(t[1] or b"")) for o, t in written.items())
    ])
    # offset 5: a copy of a counted tick; 6-8: the written ones; 9-10: new ones
    produce("eth", [ticks[5], ticks[2], ticks[3], ticks[7], ticks[8], ticks[9]])
    wait_for(lambda: get(worker, path)[1].get("close") == 100 + 9 % 7,
             what="the last tick counted")
    body = answered(worker, path)
    assert body["count"] == 10
    expected_stats(mongo, "ETHUSDT", body)


def test_ticks_flowing_while_a_second_worker_joins_are_stored_and_counted_once(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess],
    mongo: Database[dict[str, Any]],
) -> None:
    first = start_worker("first")
    wait_for(lambda: len(exchange.sim.served) >= 3 * 3, what="three polls")
    second = start_worker("second")  # the group rebalances while ticks flow
    wait_until_both_own_partitions(first, second)
    time.sleep(2)
    stop_serving(exchange)
    assert_accounted_for(mongo, served(exchange), worker=first)
    tables_caught_up(second, mongo)
    for symbol in SYMBOLS:
        expected_stats(mongo, symbol, answered(second, f"/api/stats/{symbol}/?window=1h"))


def strictly_json(worker: WorkerProcess, path: str) -> Any:
    """The 200 body, parsed as JSON is defined: ``Infinity`` or ``NaN`` fail the test."""
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} answered {constant}, which is not JSON")
    with urllib.request.urlopen(
            f"http://127.0.0.1:{worker.web_port}{path}", timeout=10) as response:
        return json.loads(response.read(), parse_constant=refuse)


def test_absurd_prices_are_dead_letters_and_no_answer_holds_a_number_that_is_not_json(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
    produce: Callable[[str, list[tuple[bytes | None, bytes | None]]], None],
) -> None:
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    now = datetime.now(UTC).replace(microsecond=0)
    absurd = [json.dumps({"symbol": "BTCUSDT", "price": price,
                          "ts": (now - timedelta(seconds=i)).isoformat()}).encode()
              for i, price in enumerate((1.7e308, 1e-300), start=1)]
    good = {"symbol": "BTCUSDT", "price": 67_000.5, "ts": now.isoformat()}
    produce("btc", [(b"BTCUSDT", value) for value in absurd]
            + [(b"BTCUSDT", json.dumps(good).encode())])
    assert_accounted_for(mongo, Counter({("BTCUSDT", 67_000.5): 1}), Counter(absurd))
    assert all(doc["reason"].startswith("price out of range")
               for doc in mongo["deadletters"].find())
    wait_for(lambda: answered(worker, "/api/prices/latest/BTCUSDT/")["price"] == 67_000.5,
             what="the good tick counted")
    answered(worker, "/api/stats/BTCUSDT/?window=1h")  # 503 while its table recovers
    body = strictly_json(worker, "/api/stats/BTCUSDT/?window=1h")
    assert (body["count"], body["stddev"]) == (1, 0.0)

    # What was stored before prices were bounded is answered with null, not Infinity.
    mongo["btc"].insert_one(PriceTick(symbol="BTCUSDT", price=math.inf,
                                      ts=to_millis(now - timedelta(seconds=30))).to_document())
    mongo["alerts"].insert_one({"symbol": "BTCUSDT", "from_price": 1e-300, "to_price": 1.7e308,
                                "change_pct": math.inf, "from_ts": now, "ts": now})
    history = strictly_json(worker, "/api/prices/history/BTCUSDT/")["ticks"]
    assert [tick["price"] for tick in history] == [None, 67_000.5]
    (alert,) = strictly_json(worker, "/api/alerts/")
    assert (alert["to_price"], alert["change_pct"]) == (1.7e308, None)
def realistic_burst(start: datetime, per_symbol: int) -> dict[str, list[bytes]]:
    """Ticks of every symbol, 60 ms apart (3,000 span three minutes), ts increasing per
    symbol, as a live feed's are."""
    return {
        symbol: [json.dumps({
            "symbol": symbol, "price": 100 + n + i % 13,
            "ts": (start + timedelta(milliseconds=60 * i + n)).isoformat(),
        }).encode() for i in range(per_symbol)]
        for n, symbol in enumerate(SYMBOLS)
    }


def produce_concurrently(
    stack: LocalStack, ticks: dict[str, list[bytes]], keyed: set[str], per_round: int = 50,
) -> threading.Thread:
    """Send the ticks from a thread, in rounds of ``per_round`` per symbol (batched, as a
    busy producer sends; about 1,500 a second), so the worker is mid-burst when it is
    stopped. Those of ``keyed`` symbols are keyed by symbol (one partition, as the
    poller sends); the others have no key, as a producer for whom the topic names the
    symbol sends them, so they spread over the topic's partitions."""
    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{stack.kafka_port}")
        await producer.start()
        try:
            for start in range(0, max(map(len, ticks.values())), per_round):
                sent = [await producer.send(SYMBOLS[symbol], value=value,
                                            key=symbol.encode() if symbol in keyed else None)
                        for symbol, values in ticks.items()
                        for value in values[start:start + per_round]]
                await asyncio.gather(*sent)
                await asyncio.sleep(0.1)
        finally:
            await producer.stop()

    sender = threading.Thread(target=asyncio.run, args=(run(),))
    sender.start()
    return sender


def window_counts(
    worker: WorkerProcess, mongo: Database[dict[str, Any]], minutes: list[datetime],
) -> dict[tuple[str, str], tuple[int, int]]:
    """Per symbol and 1m window: (count the worker answers, ticks MongoDB holds)."""
    counts = {}
    for symbol, name in SYMBOLS.items():
        for minute in minutes:
            at = minute.isoformat().replace("+", "%2B")
            status, body = get(worker, f"/api/stats/{symbol}/?window=1m&at={at}")
            held = mongo[name].count_documents(
                {"ts": {"$gte": minute, "$lt": minute + timedelta(minutes=1)}})
            counts[symbol, minute.strftime("%H:%M")] = (
                body.get("count", -1) if status == 200 else -1, held)
    return counts


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_statistics_equal_mongodb_after_a_stop_mid_burst(
    stop: str, stack: LocalStack, start_worker: Callable[..., WorkerProcess],
    mongo: Database[dict[str, Any]],
) -> None:
    """A worker stopped (or killed) while a burst flows, then started again: every
    1-minute window counts exactly the ticks MongoDB holds for it."""
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    per_symbol = 5000
    ticks = realistic_burst(start, per_symbol)
    sender = produce_concurrently(stack, ticks, keyed={"BTCUSDT"})
    wait_for(lambda: sum(mongo[name].estimated_document_count() for name in SYMBOLS.values())
             >= 4000, timeout=60, what="4,000 ticks stored")
    if stop == "SIGTERM":
        assert worker.stop() == 0
    else:
        worker.kill()
    sender.join()
    worker.start()
    assert_accounted_for(mongo, Counter(
        (symbol, float(json.loads(value)["price"]))
        for symbol, values in ticks.items() for value in values), timeout=120,
        worker=worker)

    minutes = [start + timedelta(minutes=m) for m in range(6)]
    wait_for(lambda: all(answered == held for answered, held
                         in window_counts(worker, mongo, minutes).values()),
             timeout=60, what=lambda: f"every 1m window counted as stored: "
             f"{window_counts(worker, mongo, minutes)}")


def raw(worker: WorkerProcess, path: str) -> tuple[bytes, str]:
    """The body of a 200 answer as sent, and its content type."""
    url = f"http://127.0.0.1:{worker.web_port}{path}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return response.read(), response.headers["Content-Type"]


def sent(
    worker: WorkerProcess, path: str, method: str = "GET",
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an answer as sent."""
    request = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, dict(response.headers), response.read()


def test_prepared_answers_are_the_bytes_a_fresh_answer_has_after_new_ticks(
    start_worker: Callable[..., WorkerProcess],
    produce: Callable[[str, list[tuple[bytes | None, bytes | None]]], None],
) -> None:
    """``/api/stats/{symbol}/`` and ``/api/prices/latest/`` are kept as bytes until a
    table write for their symbol; ``?at=`` (the latest tick's time) is never kept, so
    it computes the same answer afresh. A late tick changes the window but not the
    latest tick; a newer one changes both."""
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0")
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    ticks = burst("BTCUSDT", minute, 50)
    produce("btc", ticks)
    newest = json.loads(ticks[-1][1] or b"")["ts"]

    def latest_ts() -> str | None:
        return answered(worker, "/api/prices/latest/BTCUSDT/")["ts"]

    def agree(count: int) -> None:
        at = latest_ts()
        assert at is not None
        fresh = f"/api/stats/BTCUSDT/?at={at.replace('+', '%2B')}"
        def counted() -> bool:
            status, body = get(worker, fresh)
            assert status in (200, 503), (status, body)  # 503: not ready, asked to retry
            return status == 200 and body["count"] == count

        wait_for(counted, what=f"{count} counted")
        kept, kept_type = raw(worker, "/api/stats/BTCUSDT/")
        assert raw(worker, "/api/stats/BTCUSDT/") == (kept, kept_type)  # from the kept bytes
        assert (kept, kept_type) == raw(worker, fresh)
        assert kept_type == "application/json; charset=utf-8"
        assert json.loads(kept)["count"] == count

    wait_for(lambda: latest_ts() == format_ts(datetime.fromisoformat(newest)),
             what="the burst counted")
    agree(50)
    late = (minute + timedelta(milliseconds=5)).isoformat()
    produce("btc", [(b"BTCUSDT", json.dumps(
        {"symbol": "BTCUSDT", "price": 1000, "ts": late}).encode())])
    agree(51)
    assert latest_ts() == format_ts(datetime.fromisoformat(newest))

    newer = minute + timedelta(seconds=30)
    produce("btc", [(b"BTCUSDT", json.dumps(
        {"symbol": "BTCUSDT", "price": 2000, "ts": newer.isoformat()}).encode())])
    wait_for(lambda: latest_ts() == format_ts(newer), what="the newer tick counted")
    agree(52)
    body, _ = raw(worker, "/api/prices/latest/")
    rows = json.loads(body)
    assert rows[0] == {"symbol": "BTCUSDT", "price": 2000, "ts": format_ts(newer)}
    assert body == encode(rows)

    # GET of these two pages is a plain aiohttp handler (web/views.py, PreparedView),
    # HEAD is still faust's view: both send the headers of every faust view's answer.
    view_headers = sent(worker, "/api/prices/latest/BTCUSDT/")[1]
    for path in ("/api/stats/BTCUSDT/", "/api/prices/latest/"):
        status, headers, body = sent(worker, path)
        head_status, head_headers, head_body = sent(worker, path, "HEAD")
        assert (status, head_status, head_body) == (200, 200, b"")
        assert sorted(headers) == sorted(head_headers) == sorted(view_headers)
        assert headers["Content-Type"] == view_headers["Content-Type"]
        assert int(head_headers["Content-Length"]) == len(body)
