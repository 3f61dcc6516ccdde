"""`faust -A cryptoflow backfill trades SYMBOL --since ... --until ...` against a real
database and the simulated exchange: two whole hours of trades (across an hour boundary)
stored once each, as the simulator has them, with candles equal to its klines and the
ledger's hours backfilled and complete; a run stopped by REST failures midway, rerun,
gives the same state and asks nothing again of the hour it had finished; a third run asks
nothing at all. `backfill candles SYMBOL` and the old `backfill SYMBOL` fill candles."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import AGG_TRADES_PATH, Fault, SimExchangeThread
from cryptoflow.records import trade_from_fields
from cryptoflow.sources.backfill import to_ms
from tests.integration.conftest import database

pytestmark = pytest.mark.integration

SYMBOL = "ETHUSDT"
# The range is the two whole hours before the current one, so it crosses an hour boundary
# and both of its hours can be complete; the simulated history starts a little before it.
UNTIL = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SINCE = UNTIL - timedelta(hours=2)
HISTORY_BEFORE = 120  # seconds of simulated history before SINCE
TRADE_RATE = 0.4  # a second: about 1,450 trades an hour (1,000 to 2,000: two pages of 1,000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The database alone: a backfill needs no broker."""
    local = LocalStack(kafka_port=0, mongo_port=0,
                       data_dir=tmp_path_factory.mktemp("backfill-trades") / "stack")
    try:
        local.start_mongo()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def exchange() -> Iterator[SimExchangeThread]:
    # from SINCE on, measured when the exchange starts (the suite may run it minutes
    # after it collected this module)
    history = (datetime.now(UTC) - SINCE).total_seconds() + HISTORY_BEFORE
    with SimExchangeThread(seed=5, trade_rate=TRADE_RATE, history=history) as sim:
        yield sim


@pytest.fixture(scope="module")
def mongo(stack: LocalStack) -> Iterator[Database[dict[str, Any]]]:
    with database(stack) as db:
        yield db


def faust(stack: LocalStack, exchange: SimExchangeThread, cwd: Path,
          *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **stack.env(), "CRYPTOFLOW_BINANCE_URL": exchange.url}
    return subprocess.run([sys.executable, "-m", "faust", "-A", "cryptoflow", *args],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


def agg_requests(exchange: SimExchangeThread, after: int) -> list[dict[str, str]]:
    """The queries of the aggTrades requests since the ``after``-th request."""
    return [r.query for r in exchange.sim.requests[after:] if r.path == AGG_TRADES_PATH]


def test_trades_across_an_hour_boundary_resumed_after_a_failure(
    stack: LocalStack, exchange: SimExchangeThread, mongo: Database[dict[str, Any]],
    tmp_path: Path,
) -> None:
    args = ("backfill", "trades", SYMBOL, "--since", SINCE.isoformat(),
            "--until", UNTIL.isoformat())
    listed = [item for item in exchange.sim.agg_trades(SYMBOL)
              if to_ms(SINCE) <= item["T"] < to_ms(UNTIL)]
    middle = to_ms(SINCE + timedelta(hours=1))
    first_hour = [item["a"] for item in listed if item["T"] < middle]
    assert listed[0]["T"] - to_ms(SINCE) < 60_000  # the history starts before the range
    assert 1000 < len(first_hour) < 2000 and 1000 < len(listed) - len(first_hour) < 2000

    # Run 1: the first hour (by time, then by id), the second hour's first page, then
    # three 500s for its next page: the retry policy gives up, one line, exit status 1.
    exchange.sim.inject(*[Fault.delay(0).at(AGG_TRADES_PATH)] * 3,
                        *[Fault.status(500).at(AGG_TRADES_PATH)] * 3)
    failed = faust(stack, exchange, tmp_path, *args)
    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    (line,) = [x for x in failed.stderr.splitlines() if x.startswith("Binance: ")]
    assert line.startswith("Binance: server_error: HTTP 500")
    assert f"backfill of {SYMBOL} stopped after 3 tries" in line
    stored = mongo["trades"].count_documents({"symbol": SYMBOL})
    assert stored == len(first_hour) + 1000
    ledger = {doc["hour"]: doc["backfilled"] for doc in mongo["coverage"].find({"symbol": SYMBOL})}
    assert ledger[SINCE]["complete"] is True
    assert ledger[SINCE + timedelta(hours=1)]["complete"] is False  # stopped inside it

    # Run 2, the same command: the finished hour is not asked again, the rest is stored.
    before = len(exchange.sim.requests)
    resumed = faust(stack, exchange, tmp_path, *args)
    assert resumed.returncode == 0, resumed.stderr
    asked = agg_requests(exchange, before)
    assert asked[0] == {"symbol": SYMBOL, "startTime": str(middle),
                        "endTime": str(to_ms(UNTIL) - 1), "limit": "1000"}
    assert all(int(query["startTime"]) >= middle if "startTime" in query
               else int(query["fromId"]) > first_hour[-1] for query in asked)
    last = resumed.stderr.splitlines()[-1]
    assert last.startswith(
        f"{SYMBOL}: trades: {len(listed) - stored} new, 1000 already stored, 60 1m candle(s) "
        f"written to the database fx at {stack.mongo_uri} in ")
    assert last.endswith("trades/s); 1 of 2 hour(s) asked, 1 complete already")

    # Every trade of the range once, as the simulator has it; nothing outside it.
    now = datetime.now(UTC)
    expected = [trade_from_fields(item, SYMBOL, now).to_document() for item in listed]
    documents = list(mongo["trades"].find({"symbol": SYMBOL}).sort("trade_id", 1))
    assert documents == expected

    # The candles of the range's minutes are the simulator's klines.
    candles = list(mongo["candles_1m"].find({"symbol": SYMBOL}).sort("start", 1))
    klines = exchange.sim.klines(SYMBOL, to_ms(SINCE), to_ms(UNTIL) - 1)
    assert [c["start"] for c in candles] == [SINCE + timedelta(minutes=n) for n in range(120)]
    assert len(klines) == 120
    for candle, row in zip(candles, klines, strict=True):
        assert to_ms(candle["start"]) == row[0]
        assert [candle[k] for k in ("open", "high", "low", "close", "volume", "trades",
                                    "taker_buy_volume")] == [
            float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5]), row[8],
            float(row[9])]
        assert math.isclose(candle["quote_volume"], float(row[7]), rel_tol=1e-15, abs_tol=1e-8)
        assert math.isclose(candle["taker_buy_quote_volume"], float(row[10]), rel_tol=1e-15,
                            abs_tol=1e-8)

    # The ledger: both hours backfilled, complete, no id missing (the coverage command).
    report = faust(stack, exchange, tmp_path, "coverage", SYMBOL, "--since", SINCE.isoformat(),
                   "--until", UNTIL.isoformat(), "--json")
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)
    assert [(row["stored"], row["backfilled"], row["missing"]) for row in rows] == [
        (len(first_hour), len(first_hour), 0),
        (len(listed) - len(first_hour), len(listed) - len(first_hour), 0)]
    assert all(doc["backfilled"]["complete"] for doc in mongo["coverage"].find({"symbol": SYMBOL}))

    # Run 3: every hour complete, so no request at all, and nothing written.
    before = len(exchange.sim.requests)
    again = faust(stack, exchange, tmp_path, *args)
    assert again.returncode == 0, again.stderr
    assert agg_requests(exchange, before) == []
    assert again.stderr.splitlines()[-1].startswith(
        f"{SYMBOL}: trades: 0 new, 0 already stored, 0 1m candle(s) written")
    assert mongo["trades"].count_documents({"symbol": SYMBOL}) == len(listed)


def test_candles_by_the_new_and_the_old_spelling(
    stack: LocalStack, exchange: SimExchangeThread, mongo: Database[dict[str, Any]],
    tmp_path: Path,
) -> None:
    since = UNTIL - timedelta(minutes=10)
    old = faust(stack, exchange, tmp_path, "backfill", "SOLUSDT", "--since", since.isoformat(),
                "--until", (since + timedelta(minutes=5)).isoformat())
    assert old.returncode == 0, old.stderr
    assert "SOLUSDT: candles_1m: 5 minute(s) written" in old.stderr
    new = faust(stack, exchange, tmp_path, "backfill", "candles", "solusdt", "--since",
                since.isoformat(), "--until", UNTIL.isoformat())
    assert new.returncode == 0, new.stderr
    assert "SOLUSDT: candles_1m: 5 minute(s) written" in new.stderr
    assert "the range now has candles for 10 of 10 minutes" in new.stderr
    assert mongo["candles_1m"].count_documents(
        {"symbol": "SOLUSDT", "source": "binance-klines"}) == 10
    assert mongo["trades"].count_documents({"symbol": "SOLUSDT"}) == 0

    wrong = faust(stack, exchange, tmp_path, "backfill", "trades", "DOGEUSDT", "--since",
                  since.isoformat())
    assert wrong.returncode == 2
    assert "DOGEUSDT is not a configured symbol (BTCUSDT, ETHUSDT, SOLUSDT)" in wrong.stderr
