"""1-minute candles while the trade stream cannot be reached: a worker streaming trades
and book from a WebSocket nobody listens on still writes the tick candle of every closed
minute, and the minute's trades, when they come, replace it for good."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import ASCENDING
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import SimExchangeThread
from cryptoflow.jobs import TICK_CANDLE
from cryptoflow.records import AGG_TRADE_FIELDS, agg_trade_wire
from cryptoflow.sinks.mongo import TickStore
from cryptoflow.tables.candles import candle_id
from cryptoflow.tables.series import MINUTE, minute_candles
from tests.integration.conftest import (
    WorkerProcess,
    Workers,
    database,
    free_port,
    job_runs,
    produce_to,
    wait_for,
    worker_environment,
)

pytestmark = pytest.mark.integration

SYMBOL = "SOLUSDT"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root = tmp_path_factory.mktemp("unstreamed")
    with LocalStack(kafka_port=0, mongo_port=0, data_dir=root / "stack") as local:
        yield local


@pytest.fixture(scope="module")
def mongo(stack: LocalStack) -> Iterator[Database[dict[str, Any]]]:
    with database(stack) as db:
        yield db


@pytest.fixture(scope="module")
def worker(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[WorkerProcess]:
    """Prices polled from the simulated exchange, streams (the default) from a port
    nothing listens on, candles built every second."""
    with SimExchangeThread(seed=3) as exchange:
        workers = Workers({
            **worker_environment(stack, exchange),
            "CRYPTOFLOW_STREAMS": "trades,book",
            "CRYPTOFLOW_BINANCE_WS_URL": f"ws://127.0.0.1:{free_port()}",
            "CRYPTOFLOW_CANDLE_INTERVAL": "1",
        }, Path(tmp_path_factory.mktemp("unstreamed-worker")))
        try:
            yield workers.start()
        finally:
            workers.stop_all()


def tick(moment: datetime, price: float) -> tuple[bytes, bytes]:
    return SYMBOL.encode(), json.dumps(
        {"symbol": SYMBOL, "price": price, "ts": moment.isoformat()}).encode()


def trade(trade_id: int, moment: datetime, price: str) -> tuple[bytes, bytes]:
    values = (trade_id, price, "0.5", trade_id, trade_id, int(moment.timestamp() * 1000), False)
    return (json.dumps(SYMBOL).encode(),
            agg_trade_wire(dict(zip(AGG_TRADE_FIELDS, values, strict=True)), SYMBOL))


def test_a_closed_minute_gets_its_tick_candle_until_its_trades_replace_it(
    stack: LocalStack, worker: WorkerProcess, mongo: Database[dict[str, Any]],
) -> None:
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - 3 * MINUTE
    produce_to(stack, "sol", [tick(minute + timedelta(seconds=s), price)
                              for s, price in ((5, 150.0), (20, 152.5), (40, 149.0))])
    wait_for(lambda: mongo["sol"].count_documents({"_id": {"$lt": minute + MINUTE}}) == 3,
             timeout=20, what="the ticks stored")
    candles = mongo["candles_1m"]
    key = candle_id(SYMBOL, minute)
    built = wait_for(lambda: candles.find_one({"_id": key}), timeout=20,
                     what=lambda: f"the tick candle of {minute}\n{worker.warnings()[-3000:]}")
    assert (built["open"], built["high"], built["low"], built["close"], built["count"]) == (
        150.0, 152.5, 149.0, 149.0, 3)
    assert "source" not in built

    # The minute's trades come later (a fill after reconnecting, say); a trade of the
    # next minute closes its candle.
    produce_to(stack, "cryptoflow-trades", [
        trade(1, minute + timedelta(seconds=10), "151.25"),
        trade(2, minute + timedelta(seconds=30), "153.5"),
        trade(3, minute + timedelta(seconds=50), "150.75"),
        trade(4, minute + timedelta(seconds=65), "151.0"),
    ])
    replaced = wait_for(lambda: candles.find_one({"_id": key, "source": "trades"}), timeout=20,
                        what=f"the trade candle of {minute}")
    assert (replaced["open"], replaced["high"], replaced["low"], replaced["close"]) == (
        151.25, 153.5, 150.75, 150.75)
    assert (replaced["trades"], replaced["volume"]) == (3, 1.5)

    runs = job_runs(worker, "candles_1m")
    wait_for(lambda: job_runs(worker, "candles_1m") >= runs + 2, timeout=20,
             what="two more runs")
    assert candles.find_one({"_id": key}) == replaced


def test_the_jobs_write_keeps_a_candle_of_another_source(
    stack: LocalStack, mongo: Database[dict[str, Any]],
) -> None:
    """The trades agent may store a minute's trade candle between the job's read and its
    write: the write leaves it, replaces a tick candle and adds a missing one."""
    symbol, start = "XRPUSDT", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # none of the worker's
    candles = mongo["candles_1m"]
    candles.create_index([("symbol", ASCENDING), ("start", ASCENDING)], unique=True,
                         name="symbol_start_unique")
    trade_candle = {"_id": candle_id(symbol, start), "symbol": symbol, "start": start,
                    "end": start + MINUTE, "open": 2.0, "high": 2.0, "low": 2.0, "close": 2.0,
                    "volume": 4.0, "trades": 1, "source": "trades"}
    (old_tick_candle,) = minute_candles(symbol, [{"price": 9.0, "ts": start + MINUTE}])
    candles.insert_many([trade_candle, old_tick_candle])
    built = minute_candles(symbol, [{"price": 1.0 + m, "ts": start + m * MINUTE}
                                    for m in range(3)])

    async def write() -> int:
        store = TickStore(stack.mongo_uri, "fx")
        try:
            return await store.replace_only("candles_1m", built, TICK_CANDLE)
        finally:
            await store.close()

    assert asyncio.run(write()) == 2
    assert list(candles.find({"symbol": symbol}).sort("start")) == [trade_candle, *built[1:]]
