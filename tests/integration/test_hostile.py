"""A hostile exchange and a hostile producer against one real worker: what they send ends
in the dead letters, the gaps or the metrics with its reason, and nothing else changes.

One stack, one simulated exchange and one worker serve the module. The exchange sends,
on cue, frames no honest exchange sends (nested a hundred thousand levels deep, over the
frame limit, integers beyond 64 bits, ids 10**12 ahead and 10**6 back) and a ping flood;
a plain Kafka producer writes nested values and out-of-range integers to the topics.
After each, every genuine trade and tick is stored once and the worker says the truth.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import SimExchangeThread, StreamFault
from cryptoflow.records import format_ts
from cryptoflow.sources.streams import MAX_FRAME_BYTES
from tests.integration.conftest import (
    Workers,
    database,
    get,
    produce_to,
    wait_for,
    worker_environment,
)
from tests.integration.test_streams import STREAM_ENV, assert_every_trade_once
from tests.unit.test_sources.test_market import agg_trade_frame

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def market() -> Iterator[SimExchangeThread]:
    with SimExchangeThread(seed=13, trade_rate=8.0, book_rate=5.0) as sim:
        yield sim


@pytest.fixture(scope="module")
def hostile_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("hostile")
    with LocalStack(kafka_port=0, mongo_port=0, data_dir=root / "stack") as local:
        yield local


@pytest.fixture(scope="module")
def workers(
    hostile_stack: LocalStack, market: SimExchangeThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workers]:
    env = {**worker_environment(hostile_stack, market), **STREAM_ENV,
           "CRYPTOFLOW_GAP_FILL_MAX_IDS": "1000"}
    started = Workers(env, Path(tmp_path_factory.mktemp("hostile-workers")))
    started.start()
    yield started
    started.stop_all()


@pytest.fixture(scope="module")
def db(hostile_stack: LocalStack) -> Iterator[Database[dict[str, Any]]]:
    with database(hostile_stack) as db:
        yield db


def reasons(db: Database[dict[str, Any]]) -> list[str]:
    return [letter["reason"] for letter in db["deadletters"].find({}, {"reason": 1})]


def newest_id(market: SimExchangeThread, symbol: str) -> int:
    return int(market.sim.agg_trades(symbol)[-1]["a"])


def test_a_hostile_exchange_changes_nothing_but_dead_letters_gaps_and_metrics(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    wait_for(lambda: db["trades"].count_documents({"symbol": "BTCUSDT"}) > 0, timeout=30,
             what="the first trades")
    worker = next(iter(workers.started))
    last = newest_id(market, "BTCUSDT")
    market.sim.inject_stream(StreamFault.frames_of(
        b"[" * 100_000 + b"]" * 100_000,
        agg_trade_frame("BTCUSDT", last + 1, f=10**30),
        agg_trade_frame("BTCUSDT", last + 10**12),
        *(agg_trade_frame("BTCUSDT", last - 10**6 + n) for n in range(3)),
    ))
    time.sleep(2)
    market.sim.inject_stream(StreamFault.ping_flood(5_000))
    time.sleep(2)
    market.sim.inject_stream(StreamFault.frames_of(b"[" * (MAX_FRAME_BYTES + 1)))
    wait_for(lambda: len(reasons(db)) >= 6, timeout=30, what="six dead letters")
    assert_every_trade_once(db, market, workers)

    found = reasons(db)
    assert sum(r == "stream frame is not JSON we read: nested too deeply" for r in found) == 1
    assert sum(r.startswith("'f' must be a whole number from 0 to 2**63-1") for r in found) == 1
    assert sum(r.startswith("implausible trade id") for r in found) == 1
    assert sum(r.startswith("trade ids went back") for r in found) == 3
    assert not [v for v in market.sim.stream_violations if v.kind == "messages"]
    assert not db["gaps"].count_documents({})

    def reconnected() -> dict[str, Any] | None:
        (local,) = get(worker, "/api/streams/")[1]["workers"]
        connection = local["connections"][0]
        return local if connection["reconnects"] and connection["state"] == "connected" else None

    local = wait_for(reconnected, timeout=20, what="the stream connected again")
    assert local["dropped"]["implausible"] == 1
    (reset,) = local["sequence_resets"]
    assert (reset["symbol"], reset["direction"], reset["to_id"]) == ("BTCUSDT", "back",
                                                                    last - 10**6)
    (connection,) = local["connections"]
    assert connection["running"] and connection["state"] == "connected"
    assert connection["last_error"].startswith("frame too large, refused unread")
    wait_for(lambda: get(worker, "/api/health/")[0] == 200, timeout=20, what="healthy")
    with urllib.request.urlopen(
            f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as answer:
        metrics = answer.read().decode()
    assert 'cryptoflow_trades_dropped_total{reason="implausible"} 1.0' in metrics
    assert 'cryptoflow_trade_sequence_resets_total{direction="back"} 1.0' in metrics
    assert "Traceback" not in worker.log()


def test_a_hostile_producer_costs_a_dead_letter_each_and_no_genuine_record(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
    hostile_stack: LocalStack,
) -> None:
    """A value nested a thousand levels deep on every topic the worker reads, and integers
    beyond 64 bits on the market topics, produced beside a genuine tick: the agents read
    on, the tick is stored, each bad value is a dead letter with its reason."""
    worker = next(iter(workers.started))
    now_ms = int(time.time() * 1000)
    tick = json.dumps({"symbol": "BTCUSDT", "price": 12.5,
                       "ts": format_ts(datetime.now(UTC))}).encode()
    trade = json.dumps({"s": "BTCUSDT", "a": 10**30, "p": "1", "q": "1", "f": 1, "l": 1,
                        "T": now_ms, "m": True}).encode()
    book = json.dumps({"s": "BTCUSDT", "u": 2**64, "b": "1", "B": "1", "a": "2", "A": "1",
                       "E": now_ms, "n": 1, "sum_bps": 1.0, "max_bps": 1.0}).encode()
    nested, key = b"[" * 1000, b'"BTCUSDT"'
    before = Counter(reasons(db))
    produce_to(hostile_stack, "btc", [(b"BTCUSDT", nested), (b"BTCUSDT", tick)])
    for kind, huge in (("trades", trade), ("book", book), ("ticks", None),
                       ("deadletter", None)):
        records = [(key, nested)] + ([(key, huge)] if huge else [])
        produce_to(hostile_stack, f"cryptoflow-{kind}", records)
    wait_for(lambda: (Counter(reasons(db)) - before).total() >= 7, timeout=30,
             what="seven dead letters")
    wait_for(lambda: db["btc"].find_one({"price": 12.5}), timeout=30, what="the genuine tick")
    found = Counter(reasons(db)) - before
    assert found["not JSON we read: nested too deeply"] == 4  # ticks, trades, book, stored
    assert found["no reason given"] == 1  # the dead-letter topic keeps what it is sent
    assert {r[:47] for r in found if r.startswith(("'a'", "'u'"))} == {
        "'a' must be a whole number from 0 to 2**63-1, g",
        "'u' must be a whole number from 0 to 2**63-1, g"}
    assert "RecursionError" not in worker.log() and "OverflowError" not in worker.log()
    assert_every_trade_once(db, market, workers)


def test_trades_binance_marks_invalid_are_stored_flagged_and_count_in_no_candle(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    """Never streamed, filled from REST as price and quantity 0 with first and last trade
    id -1: stored under their ids, flagged, neither a gap nor a dead letter, and the
    candle of their minute counts only the valid trades."""
    letters = db["deadletters"].count_documents({})
    market.sim.mark_invalid("ETHUSDT", 2)
    wait_for(lambda: len(market.sim.invalid_ids("ETHUSDT")) == 2, timeout=30,
             what="two trades marked invalid")
    invalid = market.sim.invalid_ids("ETHUSDT")
    wait_for(lambda: db["trades"].count_documents({"trade_id": {"$in": sorted(invalid)},
                                                   "symbol": "ETHUSDT"}) == 2,
             timeout=30, what="the invalid trades stored")
    assert_every_trade_once(db, market, workers)
    stored = list(db["trades"].find({"symbol": "ETHUSDT", "trade_id": {"$in": sorted(invalid)}}))
    assert all((doc["invalid"], doc["price"], doc["qty"], doc["first_trade_id"],
                doc["last_trade_id"]) == (True, 0.0, 0.0, -1, -1) for doc in stored)
    assert db["deadletters"].count_documents({}) == letters
    assert not db["gaps"].count_documents({"symbol": "ETHUSDT"})

    minute = stored[0]["ts"].replace(second=0, microsecond=0)
    following = minute + timedelta(minutes=1)

    wait_for(lambda: datetime.now(UTC) > following + timedelta(seconds=3), timeout=70,
             interval=1.0, what="the minute of the invalid trades closed")
    candle = wait_for(lambda: db["candles_1m"].find_one(
        {"symbol": "ETHUSDT", "start": minute, "source": "trades"}), timeout=30,
        what="the minute's trade candle")
    valid = [doc for doc in db["trades"].find({"symbol": "ETHUSDT"})
             if minute <= doc["ts"] < following and not doc.get("invalid")]
    assert candle["agg_trades"] == len(valid)
    assert candle["trades"] == sum(d["last_trade_id"] - d["first_trade_id"] + 1 for d in valid)
    assert candle["low"] > 0


def test_a_flood_of_valid_trades_is_stored_whole_without_fills(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    """Fifty times the trading for five seconds (about 6,000 genuine trades): all of them
    stored once, straight from the stream: the bounded queues slow the reader, they drop
    nothing, and no fill is needed."""
    fills_before = sum(r.path == "/api/v3/aggTrades" for r in market.sim.requests)
    stored_before = db["trades"].estimated_document_count()
    market.sim.flood(5.0, 50.0)
    time.sleep(5)
    assert_every_trade_once(db, market, workers, timeout=90)
    assert db["trades"].estimated_document_count() - stored_before > 2_000
    assert sum(r.path == "/api/v3/aggTrades" for r in market.sim.requests) == fills_before


def test_ids_the_exchange_lost_are_an_unfilled_gap_the_ledger_and_verify_name(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
    hostile_stack: LocalStack,
) -> None:
    """Last (it leaves a hole): three trades that happened, in the klines, but that the
    exchange neither streams nor lists by aggTrades are an unfilled gap with its reason;
    the coverage ledger shows that hole and reason, and verify against the klines finds
    the recording equal but for that gap's minute, naming the gap as exactly that."""
    market.sim.lose("ETHUSDT", 3)
    wait_for(lambda: db["gaps"].find_one({"symbol": "ETHUSDT"}), timeout=30,
             what="the gap recorded")
    (gap,) = list(db["gaps"].find({"symbol": "ETHUSDT"}))
    lost = sorted(market.sim.lost_ids("ETHUSDT"))
    assert (gap["first_id"], gap["last_id"]) == (lost[0], lost[-1]) and len(lost) == 3
    assert gap["reason"] == "the exchange no longer has these trades"
    worker = next(iter(workers.started))
    first = db["trades"].find_one({"symbol": "ETHUSDT"}, sort=[("trade_id", 1)])
    assert first is not None
    since = first["ts"].replace(minute=0, second=0, microsecond=0)
    start = since.isoformat().replace("+00:00", "Z")

    def holes() -> list[dict[str, Any]]:
        return [hole for hour in get(worker, f"/api/coverage/ETHUSDT/?start={start}")[1]["hours"]
                for hole in hour["holes"]]

    assert wait_for(holes, timeout=20, what="the hole in the ledger") == [{
        "first_id": lost[0], "last_id": lost[-1], "size": 3, "reason": gap["reason"]}]

    def stored_ts(trade_id: int) -> datetime | None:
        trade = db["trades"].find_one({"symbol": "ETHUSDT", "trade_id": trade_id})
        return trade["ts"] if trade else None

    # the lost trades happened between the trades either side of them
    before = stored_ts(lost[0] - 1)
    after = wait_for(lambda: stored_ts(lost[-1] + 1), timeout=20, what="the trade after them")
    assert before is not None
    first_minute = before.replace(second=0, microsecond=0)
    minutes = {(first_minute + n * timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%MZ")
               for n in range((after - first_minute) // timedelta(minutes=1) + 1)}
    until = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    wait_for(lambda: datetime.now(UTC) > until + timedelta(seconds=2), timeout=70,
             interval=1, what="the gap's minute closed")
    env = {**worker_environment(hostile_stack, market), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "faust", "-A", "cryptoflow", "verify", "ETHUSDT",
         "--since", first["ts"].replace(second=0, microsecond=0).isoformat(),
         "--until", until.isoformat()],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    differing = {line.split()[1] for line in lines if line.startswith("minute ")}
    assert differing and differing <= minutes, done.stdout
    assert (f"ids {lost[0]}..{lost[-1]} missing in the recording (recorded as an unfilled "
            f"gap: {gap['reason']}); Binance's REST does not serve them either") in lines
