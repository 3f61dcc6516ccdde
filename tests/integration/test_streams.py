"""Streamed trades: every aggregate trade once in MongoDB, whatever the stream does.

One stack, one simulated exchange and one worker serve the whole module, so a drill
costs seconds: each test injects its fault and then checks the promise again. Every
trade id the exchange generated from the first one recorded on is in ``trades``
exactly once, and every closed minute's candle equals the exchange's kline.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiokafka import AIOKafkaConsumer
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import (
    DEFAULT_SYMBOLS,
    ArchivePlant,
    Fault,
    SimExchangeThread,
    StreamFault,
)
from tests.integration.conftest import (
    WorkerProcess,
    Workers,
    database,
    get,
    wait_for,
    worker_environment,
)

pytestmark = pytest.mark.integration

SYMBOLS = DEFAULT_SYMBOLS
UNPOLLED = "SOLUSDT"  # streamed, with no price-tick topic
STREAM_ENV = {
    "CRYPTOFLOW_STREAMS": "trades,book",
    "CRYPTOFLOW_STREAM_SILENCE": "2",
    "CRYPTOFLOW_GAP_FILL_TIMEOUT": "30",  # a loaded machine answers slowly
    "CRYPTOFLOW_BOOK_INTERVAL": "0.5",
}


@pytest.fixture(scope="module")
def market() -> Iterator[SimExchangeThread]:
    with SimExchangeThread(seed=11, trade_rate=8.0, book_rate=10.0) as sim:
        yield sim


@pytest.fixture(scope="module")
def market_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("streams")
    with LocalStack(kafka_port=0, mongo_port=0, data_dir=root / "stack") as local:
        yield local


@pytest.fixture(scope="module")
def workers(
    market_stack: LocalStack, market: SimExchangeThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workers]:
    env = {**worker_environment(market_stack, market), **STREAM_ENV,
           # this module's worker streams UNPOLLED without a tick topic for it
           "CRYPTOFLOW_TICK_SYMBOLS": ",".join(s for s in SYMBOLS if s != UNPOLLED)}
    started = Workers(env, Path(tmp_path_factory.mktemp("stream-workers")))
    started.start()
    yield started
    started.stop_all()


@pytest.fixture(scope="module")
def db(market_stack: LocalStack) -> Iterator[Database[dict[str, Any]]]:
    with database(market_stack) as db:
        yield db


def worker_of(workers: Workers) -> WorkerProcess:
    return next(worker for worker in workers.started if worker.running)


def stored_ids(db: Database[dict[str, Any]], symbol: str) -> list[int]:
    return [doc["trade_id"] for doc in db["trades"].find({"symbol": symbol}, {"trade_id": 1})]


def generated_ids(market: SimExchangeThread, symbol: str) -> list[int]:
    return [trade["a"] for trade in market.sim.agg_trades(symbol)]


def assert_every_trade_once(
    db: Database[dict[str, Any]], market: SimExchangeThread, workers: Workers,
    timeout: float = 45.0,
) -> None:
    """Every trade generated until now, from the first recorded on, is stored once."""
    wanted = {symbol: generated_ids(market, symbol) for symbol in SYMBOLS}

    def missing() -> dict[str, list[int]]:
        gaps = {}
        for symbol in SYMBOLS:
            ids = set(stored_ids(db, symbol))
            first = min(ids, default=None)
            lost = [i for i in wanted[symbol] if first is None or (i >= first and i not in ids)]
            if lost:
                gaps[symbol] = lost
        return gaps

    def progress() -> str:
        lost = missing()
        return (f"every trade stored; missing {({s: (len(v), v[:5]) for s, v in lost.items()})}"
                f"\nworker warnings:\n{worker_of(workers).warnings()[-3000:]}")

    wait_for(lambda: not missing(), timeout=timeout, what=progress)
    for symbol in SYMBOLS:
        ids = stored_ids(db, symbol)
        assert len(ids) == len(set(ids)), f"{symbol}: a trade stored twice"
        assert set(ids) <= set(generated_ids(market, symbol)), f"{symbol}: a trade never made"
        assert sorted(ids) == list(range(min(ids), max(ids) + 1)), f"{symbol}: a hole"


def test_streamed_trades_are_stored_once(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    wait_for(lambda: all(stored_ids(db, symbol) for symbol in SYMBOLS), timeout=30,
             what="first trades of every symbol")
    assert_every_trade_once(db, market, workers)
    document = db["trades"].find_one({"symbol": "BTCUSDT"})
    assert document is not None
    assert set(document) == {"_id", "symbol", "trade_id", "price", "qty", "first_trade_id",
                             "last_trade_id", "ts", "is_buyer_maker"}
    assert document["ts"].tzinfo is not None


@pytest.mark.parametrize(("fault", "reconnects"), [
    (StreamFault.drop_connection(), True),
    (StreamFault.skip_trades("BTCUSDT", 7), False),  # the connection stays open
    (StreamFault.stall(4.0), True),
    (StreamFault.shutdown(), True),
], ids=["dropped", "skipped-messages", "stall", "shutdown-notice"])
def test_a_stream_fault_leaves_no_gap(
    fault: StreamFault, reconnects: bool, workers: Workers, db: Database[dict[str, Any]],
    market: SimExchangeThread,
) -> None:
    before = len(market.sim.connections)
    market.sim.inject_stream(fault)
    time.sleep(3)  # trades go on meanwhile
    if reconnects:
        wait_for(lambda: len(market.sim.connections) > before, timeout=30,
                 what="the worker reconnecting")
    assert_every_trade_once(db, market, workers)


def test_refused_reconnects_back_off_and_fill(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    market.sim.inject_stream(StreamFault.refuse_connections(4.0), StreamFault.drop_connection())
    time.sleep(5)
    assert_every_trade_once(db, market, workers)
    assert not market.sim.stream_violations


def test_a_rate_limited_fill_waits_for_retry_after(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    market.sim.inject(Fault.status(429, retry_after=2).at("/api/v3/aggTrades"))
    market.sim.inject_stream(StreamFault.skip_trades("ETHUSDT", 5))
    assert_every_trade_once(db, market, workers)
    assert not market.sim.violations  # nothing was asked before Retry-After had passed


def test_malformed_frames_are_dead_letters(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    before = db["deadletters"].count_documents({})
    market.sim.inject_stream(StreamFault.malformed(4))
    wait_for(lambda: db["deadletters"].count_documents({}) >= before + 4, timeout=20,
             what="four dead letters")
    letters = list(db["deadletters"].find().sort("received_at", -1).limit(4))
    assert all(letter["reason"] for letter in letters)
    assert_every_trade_once(db, market, workers)


def newest_candle(db: Database[dict[str, Any]], symbol: str) -> dict[str, Any] | None:
    return db["candles_1m"].find_one({"symbol": symbol, "source": "trades"},
                                     sort=[("start", -1)])


def candles_behind(db: Database[dict[str, Any]]) -> dict[str, tuple[int | None, int | None]]:
    """The symbols whose newest candle does not hold their newest stored trade: (that
    trade's id, the candle's last_trade_id)."""
    behind = {}
    for symbol in SYMBOLS:
        trade = db["trades"].find_one({"symbol": symbol}, sort=[("trade_id", -1)])
        candle = newest_candle(db, symbol)
        newest = trade["trade_id"] if trade else None
        counted = candle["last_trade_id"] if candle else None
        if newest is None or counted != newest:
            behind[symbol] = (newest, counted)
    return behind


def test_a_forming_candle_left_waiting_is_written_when_trading_pauses(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    """A forming candle goes to MongoDB at most every CRYPTOFLOW_FORMING_CANDLE_INTERVAL
    (1 s), so the last batches before a pause leave theirs waiting; the worker's timer
    writes them: each symbol's newest candle then holds its newest stored trade."""
    market.sim.quiet(10.0)  # the streams stay up (book tickers, pings), no trade comes
    wait_for(lambda: not candles_behind(db), timeout=8,
             what=lambda: f"candles with the newest trades (trade, candle): {candles_behind(db)}")


def test_a_worker_taking_symbols_over_writes_their_forming_candles(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    """MongoDB can hold an older forming candle than the table (the worker stopped before
    a waiting candle was due, or the symbol's previous owner wrote last): a worker that
    takes a symbol over writes its forming candle from the table, even with no trade."""
    market.sim.quiet(120.0)
    try:
        wait_for(lambda: not candles_behind(db), timeout=15, what="candles up to date")
        worker = worker_of(workers)
        worker.stop()
        for symbol in SYMBOLS:  # as an older write would have left them
            candle = newest_candle(db, symbol)
            assert candle is not None
            db["candles_1m"].update_one(
                {"_id": candle["_id"]}, {"$set": {"last_trade_id": candle["last_trade_id"] - 1}})
        assert set(candles_behind(db)) == set(SYMBOLS)
        worker.start()
        wait_for(lambda: not candles_behind(db), timeout=30,
                 what=lambda: f"candles written again (trade, candle): {candles_behind(db)}")
    finally:
        market.sim.quiet(0)


def test_the_api_shows_trades_book_streams_and_health(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    worker = worker_of(workers)
    wait_for(lambda: len(stored_ids(db, "BTCUSDT")) > 12, timeout=30, what="a dozen trades")
    status, book = wait_for(lambda: (r := get(worker, "/api/book/BTCUSDT/"))[0] == 200 and r,
                            timeout=20, what="a book ticker")
    assert book["bid"] < book["ask"]
    newest = max(stored_ids(db, "BTCUSDT"))
    status, page = get(worker, "/api/trades/BTCUSDT/?limit=5")  # the newest, as Binance's
    assert status == 200, page
    assert len(page["trades"]) == 5 and page["next"]
    ids = [trade["trade_id"] for trade in page["trades"]]
    assert ids == list(range(ids[0], ids[0] + 5)) and ids[-1] >= newest
    following_url = urlsplit(page["next"])
    assert following_url.port == worker.web_port
    following = wait_for(lambda: (answer := get(
        worker, f"{following_url.path}?{following_url.query}"))[1]["trades"] and answer[1],
        timeout=20, what="trades after the newest page")
    assert following["trades"][0]["trade_id"] == ids[-1] + 1
    csv_url = f"http://127.0.0.1:{worker.web_port}/api/trades/BTCUSDT/?from_id={ids[0]}" \
              "&limit=3&format=csv"
    with urllib.request.urlopen(csv_url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/csv")
        assert response.headers["Link"].endswith('>; rel="next"')
        rows = list(csv.DictReader(io.StringIO(response.read().decode())))
    first_three = page["trades"][:3]
    assert [int(row["trade_id"]) for row in rows] == [t["trade_id"] for t in first_three]
    assert [float(row["qty"]) for row in rows] == [t["qty"] for t in first_three]
    for bad in ("limit=0", "limit=1001", "from_id=-1", "from_id=%D9%A3", "end=yesterday"):
        assert get(worker, f"/api/trades/BTCUSDT/?{bad}")[0] == 400, bad
    assert get(worker, "/api/trades/BTCUSDT/?start=2026-01-02T00:00:00Z"
                       "&end=2026-01-01T00:00:00Z")[0] == 400
    status, streams = get(worker, "/api/streams/")
    assert status == 200
    (connection,) = streams["workers"][0]["connections"]
    assert connection["state"] == "connected"
    assert connection["symbols"] == sorted(SYMBOLS)
    status, stats = get(worker, "/api/stats/BTCUSDT/?window=1h")
    assert status == 200, stats
    assert stats["trades"] > 0 and stats["volume"] > 0
    assert stats["spread_bps_mean"] is not None
    status, health = get(worker, "/api/health/")
    assert health["checks"]["streams"]["ok"], health


def stored_window_prices(
    db: Database[dict[str, Any]], symbol: str, window: dict[str, str],
) -> list[float]:
    """The prices of ``symbol``'s stored trades in ``window`` (an answer's), by trade id."""
    start, end = (datetime.fromisoformat(window[bound]) for bound in ("start", "end"))
    query = {"symbol": symbol, "ts": {"$gte": start, "$lt": end}, "invalid": {"$ne": True}}
    return [doc["price"] for doc in db["trades"].find(query, {"price": 1}).sort("trade_id", 1)]


def trades_settled(db: Database[dict[str, Any]], pause: float = 1.5) -> bool:
    """Whether no trade was stored for ``pause`` seconds."""
    before = db["trades"].count_documents({})
    time.sleep(pause)
    return db["trades"].count_documents({}) == before


def window_of_stored_trades(
    worker: WorkerProcess, db: Database[dict[str, Any]], symbol: str,
) -> dict[str, Any] | None:
    """``symbol``'s 1h statistics once they count every stored trade of the window."""
    status, stats = get(worker, f"/api/stats/{symbol}/?window=1h")
    if status != 200 or stats["count"] != len(stored_window_prices(db, symbol, stats["window"])):
        return None
    return stats  # type: ignore[no-any-return]  # a 200 of /api/stats/ is a JSON object


def next_stats_event(worker: WorkerProcess, symbol: str, window: str) -> dict[str, Any]:
    """The next ``stats`` event of ``symbol``'s ``window`` on a fresh /api/stream/."""
    url = f"http://127.0.0.1:{worker.web_port}/api/stream/"
    with urllib.request.urlopen(url, timeout=20) as response:
        for line in response:
            if line.startswith(b"data: "):
                event: dict[str, Any] = json.loads(line[6:])
                if (event["type"], event.get("symbol"), event.get("window")) == (
                        "stats", symbol, window):
                    return event
    pytest.fail(f"the stream ended without a stats event of {symbol} {window}")


def test_a_streamed_symbols_window_prices_are_its_trades(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    """A streamed symbol's count, min, max, open and close are those of its stored trades
    of the window, not of the price ticks polled meanwhile (``price_source``), in the
    answers and in the live feed's stats events, polled (BTCUSDT) or not (UNPOLLED)."""
    worker = worker_of(workers)
    wait_for(lambda: all(stored_ids(db, symbol) for symbol in SYMBOLS), timeout=30,
             what="trades of every symbol")
    market.sim.quiet(30.0)  # a pause in trading: the windows stop moving
    try:
        # once the trades made before the pause are all stored (some are on their way)
        wait_for(partial(trades_settled, db), timeout=20, what="the stored trades settled")
        answers = {}
        for symbol in ("BTCUSDT", UNPOLLED):
            stats = wait_for(partial(window_of_stored_trades, worker, db, symbol),
                             timeout=20, what=f"{symbol}'s 1h window holding its stored trades")
            assert stats is not None
            prices = stored_window_prices(db, symbol, stats["window"])
            assert stats["price_source"] == "trades", stats
            assert stats["count"] == len(prices) <= stats["trades"], stats
            assert (stats["min"], stats["max"]) == (min(prices), max(prices)), stats
            assert all(stats["min"] <= price <= stats["max"] for price in prices)
            assert (stats["open"], stats["close"]) == (prices[0], prices[-1]), stats
            assert math.isclose(stats["mean"], sum(prices) / len(prices), rel_tol=1e-9)
            answers[symbol] = stats
        # BTCUSDT is polled: its ticks go on, and their stats events carry the trades' prices
        event = next_stats_event(worker, "BTCUSDT", "1h")
        assert event["price_source"] == "trades", event
        shared = ("count", "min", "max", "open", "close", "first_ts", "last_ts", "trades")
        assert {name: event[name] for name in shared} == {
            name: answers["BTCUSDT"][name] for name in shared}
    finally:
        market.sim.quiet(0)


def test_a_symbol_without_a_tick_topic_is_streamed_and_not_polled(
    workers: Workers, db: Database[dict[str, Any]], market_stack: LocalStack,
) -> None:
    worker = worker_of(workers)
    wait_for(lambda: stored_ids(db, UNPOLLED) and db["btc"].find_one(), timeout=30,
             what=f"trades of {UNPOLLED} and polled BTCUSDT ticks")
    status, stats = wait_for(
        lambda: (r := get(worker, f"/api/stats/{UNPOLLED}/?window=1h"))[1].get("trades") and r,
        timeout=20, what=f"{UNPOLLED}'s trade statistics")
    assert status == 200 and stats["price_source"] == "trades", stats  # no tick, trades
    assert 0 < stats["count"] <= stats["trades"], stats
    status, error = get(worker, f"/api/prices/latest/{UNPOLLED}/")
    assert status == 404 and "known: BTCUSDT, ETHUSDT" in error["error"]["message"]
    status, latest = get(worker, "/api/prices/latest/")
    assert [row["symbol"] for row in latest] == ["BTCUSDT", "ETHUSDT"]
    assert "sol" not in db.list_collection_names()
    assert "sol" not in asyncio.run(broker_topics(market_stack))
    assert "btc" in asyncio.run(broker_topics(market_stack))


async def broker_topics(stack: LocalStack) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=f"{stack.host}:{stack.kafka_port}")
    await consumer.start()
    try:
        return set(await consumer.topics())
    finally:
        await consumer.stop()


def test_export_writes_the_stored_trades_of_a_range(
    workers: Workers, db: Database[dict[str, Any]], market_stack: LocalStack,
    tmp_path: Path,
) -> None:
    oldest = db["trades"].find_one({"symbol": "ETHUSDT"}, sort=[("trade_id", 1)])
    assert oldest is not None
    since = oldest["ts"].replace(second=0, microsecond=0)  # the command takes minutes
    until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)

    def stored() -> list[int]:
        return [doc["trade_id"] for doc in db["trades"].find(
            {"symbol": "ETHUSDT", "ts": {"$gte": since, "$lt": until}}).sort("trade_id", 1)]

    def exported_match(ids: list[int], before: list[int]) -> None:
        """Trades keep coming while the command runs: it wrote at least what was stored
        before it started, and exactly the stored ones, in id order, up to its last."""
        after = stored()
        assert ids[:len(before)] == before
        assert ids == after[:len(ids)]

    env = {"PATH": "/usr/bin:/bin", **market_stack.env()}
    base = [sys.executable, "-m", "faust", "-A", "cryptoflow", "export", "trades", "ETHUSDT",
            "--since", since.isoformat(), "--until", until.isoformat()]
    before = stored()
    done = subprocess.run([*base, "-o", "trades.csv"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "trades.csv").open()))
    exported_match([int(row["trade_id"]) for row in rows], before)
    assert f"{len(rows)} trade(s)" in done.stderr
    before = stored()
    done = subprocess.run([*base, "--format", "jsonl"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    exported_match([line["trade_id"] for line in lines], before)
    assert set(lines[0]) == {"trade_id", "price", "qty", "first_trade_id", "last_trade_id",
                             "ts", "is_buyer_maker"}


def test_a_killed_worker_resumes_where_the_recording_stands(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    worker = worker_of(workers)
    worker.kill()
    time.sleep(4)  # trades the exchange makes while no worker streams
    worker.start()
    assert_every_trade_once(db, market, workers, timeout=60)


def test_the_coverage_ledger_accounts_for_every_stored_trade(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
    market_stack: LocalStack,
) -> None:
    """After the drills above (drops, skipped trades, refused reconnects, a SIGKILL), the
    ledger's hours hold every stored id once: streamed or filled, none missing, and the
    time the stream was refused shows as disconnected."""
    worker = worker_of(workers)
    market.sim.quiet(30.0)  # no new trade while the ledger and the trades are compared
    try:
        first = db["trades"].find_one({"symbol": "BTCUSDT"}, sort=[("trade_id", 1)])
        assert first is not None
        since = first["ts"].replace(minute=0, second=0, microsecond=0)
        start = since.isoformat().replace("+00:00", "Z")

        def hours(symbol: str) -> list[dict[str, Any]]:
            status, page = get(worker, f"/api/coverage/{symbol}/?start={start}")
            assert status == 200, page
            return list(page["hours"])

        def unaccounted() -> dict[str, tuple[int, int]]:
            off = {}
            for symbol in SYMBOLS:
                ledger = sum(hour["stored"] for hour in hours(symbol))
                if ledger != len(stored_ids(db, symbol)):
                    off[symbol] = (ledger, len(stored_ids(db, symbol)))
            return off

        wait_for(lambda: not unaccounted(), timeout=20,
                 what=lambda: f"the ledger counting every stored trade: {unaccounted()}")
        for symbol in SYMBOLS:
            for hour in hours(symbol):
                assert hour["missing"] == 0 and hour["holes"] == [], hour
                assert hour["streamed"] + hour["filled"] == hour["stored"], hour
                assert hour["imported"] == hour["backfilled"] == 0, hour
        btc = hours("BTCUSDT")
        assert sum(hour["filled"] for hour in btc) >= 7  # the skipped trades, at least
        assert sum(hour["disconnected_s"] for hour in btc) >= 3.0, btc  # the refusal
        with urllib.request.urlopen(
                f"http://127.0.0.1:{worker.web_port}/api/coverage/BTCUSDT/?start={start}"
                "&format=csv", timeout=10) as response:
            rows = list(csv.DictReader(io.StringIO(response.read().decode())))
        assert [int(row["stored"]) for row in rows] == [hour["stored"] for hour in btc]
        assert get(worker, "/api/coverage/BTCUSDT/?limit=0")[0] == 400
        env = {"PATH": "/usr/bin:/bin", **market_stack.env()}
        done = subprocess.run(
            [sys.executable, "-m", "faust", "-A", "cryptoflow", "coverage", "BTCUSDT",
             "--since", since.isoformat()], env=env, capture_output=True, text=True,
            timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "BTCUSDT: every trade id stored" in done.stderr, done.stderr
        assert "streamed" in done.stdout.splitlines()[0]
    finally:
        market.sim.quiet(0)


def test_the_recording_verifies_and_its_archive_imports_to_the_same_documents(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
    market_stack: LocalStack, tmp_path: Path,
) -> None:
    """What the drills recorded live equals the exchange's own klines and archive file
    (``verify`` answers equal and marks the ledger), a planted archive difference is
    reported with both values, and the exchange's archive imported into an empty database
    gives the very trade documents and candles recording live gave."""
    first = db["trades"].find_one({"symbol": "ETHUSDT"}, sort=[("trade_id", 1)])
    assert first is not None
    since = first["ts"].replace(second=0, microsecond=0)
    # a whole minute recorded after the first, partial one
    wait_for(lambda: datetime.now(UTC) >= since + timedelta(minutes=2, seconds=2), timeout=120,
             interval=1, what="two minutes of recording")
    market.sim.quiet(60.0)
    try:
        wait_for(lambda: not candles_behind(db), timeout=20, what="the candles up to date")
        until = datetime.now(UTC).replace(second=0, microsecond=0)
        env = {"PATH": "/usr/bin:/bin", **market_stack.env(),
               "CRYPTOFLOW_BINANCE_URL": market.url, "CRYPTOFLOW_SYMBOLS": ",".join(SYMBOLS)}

        def command(*args: str, database: str = "fx") -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "faust", "-A", "cryptoflow", *args],
                env={**env, "CRYPTOFLOW_MONGO_DB": database}, capture_output=True, text=True,
                timeout=120, check=False)

        window = ("--since", since.isoformat(), "--until", until.isoformat())
        done = command("verify", "ETHUSDT", *window)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "ETHUSDT: equal: " in done.stdout
        marked = [doc["verified"] for doc in db["coverage"].find({"symbol": "ETHUSDT"})
                  if "verified" in doc]
        assert marked and all(mark["result"] == "equal" for mark in marked), marked

        archive = market.sim.write_archive("ETHUSDT", "aggTrades", since.date(), tmp_path)
        done = command("verify", "ETHUSDT", *window, "--archive", str(archive))
        assert done.returncode == 0, done.stdout + done.stderr
        changed = db["trades"].find_one({"symbol": "ETHUSDT", "invalid": {"$exists": False},
                                         "ts": {"$gte": since + timedelta(minutes=1),
                                                "$lt": until}})
        assert changed is not None
        planted = tmp_path / "planted"
        planted.mkdir()
        bad = market.sim.write_archive("ETHUSDT", "aggTrades", since.date(), planted,
                                       plant=ArchivePlant(changed_qty={
                                           changed["trade_id"]: "123.00000000"}))
        done = command("verify", "ETHUSDT", *window, "--archive", str(bad))
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"id {changed['trade_id']} qty: recorded {changed['qty']!r}" in done.stdout, \
            done.stdout
        assert "the archive differs from Binance's REST and the recording" in done.stdout

        done = command("import", str(archive), database="fx_imported")
        assert done.returncode == 0, done.stderr
        recorded = list(db["trades"].find({"symbol": "ETHUSDT"}).sort("_id", 1))
        whole_minutes = {"symbol": "ETHUSDT", "source": "trades",
                         "start": {"$gt": since, "$lt": until}}
        live = list(db["candles_1m"].find(whole_minutes).sort("start", 1))
        with database(market_stack, "fx_imported") as imported:
            assert recorded == list(imported["trades"].find(
                {"_id": {"$in": [doc["_id"] for doc in recorded]}}).sort("_id", 1))
            assert live and live == list(
                imported["candles_1m"].find(whole_minutes).sort("start", 1))
    finally:
        market.sim.quiet(0)


def test_closed_minutes_equal_the_exchange_klines(
    workers: Workers, db: Database[dict[str, Any]], market: SimExchangeThread,
) -> None:
    """Last, when the module has recorded for a while: every closed minute recorded
    from its start equals the kline the exchange computes from the same trades, and so
    does its 1-minute trade window (closed by then: read from its windowed table, as its
    spread window)."""
    def full_minutes() -> list[dict[str, Any]]:
        first = db["trades"].find_one({"symbol": "BTCUSDT"}, sort=[("trade_id", 1)])
        now = datetime.now(UTC).timestamp()
        return [c for c in db["candles_1m"].find({"source": "trades"})
                if first is not None and c["start"] > first["ts"]
                and c["end"].timestamp() < now - 2]

    wait_for(full_minutes, timeout=90, interval=1, what="a closed minute recorded whole")
    assert_every_trade_once(db, market, workers)
    for candle in full_minutes():
        start_ms = int(candle["start"].timestamp() * 1000)
        url = (f"{market.url}/api/v3/klines?symbol={candle['symbol']}&interval=1m"
               f"&startTime={start_ms}&endTime={start_ms}")
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            (kline,) = json.loads(response.read())
        assert (candle["open"], candle["high"], candle["low"], candle["close"]) == tuple(
            float(value) for value in kline[1:5]), candle
        assert candle["volume"] == pytest.approx(float(kline[5]), rel=1e-12)
        assert candle["quote_volume"] == pytest.approx(float(kline[7]), rel=1e-9)
        assert candle["trades"] == kline[8]
        # as the Kline docstring says they compare (cryptoflow/sources/binance.py)
        assert candle["taker_buy_volume"] == float(kline[9]), candle
        assert math.isclose(candle["taker_buy_quote_volume"], float(kline[10]),
                            rel_tol=1e-15, abs_tol=1e-8), candle
        at = candle["start"].isoformat().replace("+00:00", "Z")
        path = f"/api/stats/{candle['symbol']}/?window=1m&at={at}"
        status, window = get(worker_of(workers), path)
        assert status == 200, window
        assert window["trades"] == kline[8], window
        assert window["price_source"] == "trades", window
        assert window["count"] == candle["agg_trades"], window
        assert (window["open"], window["max"], window["min"], window["close"]) == tuple(
            float(value) for value in kline[1:5]), window
        assert window["volume"] == pytest.approx(float(kline[5]), rel=1e-12)
        assert window["quote_volume"] == pytest.approx(float(kline[7]), rel=1e-9)
        # book tickers came all minute long (but while the killed worker was down)
        assert window["spread_bps_mean"] is not None, window
        assert 0 < window["spread_bps_mean"] <= window["spread_bps_max"], window
