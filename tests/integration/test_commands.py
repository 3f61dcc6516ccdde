"""`faust -A cryptoflow latest|stats|jumps|backfill|export` against a real database (and
the simulated exchange), and against none."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import Fault, SimExchangeThread
from cryptoflow.records import PriceTick, format_ts
from cryptoflow.sources.backfill import to_ms
from tests.integration.conftest import free_port

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
PRICES = [100.0, 100.5, 104.0, 103.0, 97.0, 97.5]


def run(stack: LocalStack, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **stack.env()}
    return subprocess.run(
        [sys.executable, "-m", "faust", "-A", "cryptoflow", *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )


def command(stack: LocalStack, tmp_path: Path, *args: str) -> Any:
    return json.loads(run(stack, tmp_path, *args, "--json").stdout)


@pytest.fixture
def ticks(mongo: Database[dict[str, Any]]) -> None:
    mongo["btc"].insert_many([
        PriceTick(symbol="BTCUSDT", price=price, ts=T0 + timedelta(seconds=3 * i)).to_document()
        for i, price in enumerate(PRICES)
    ])


@pytest.mark.usefixtures("ticks")
def test_the_commands_print_what_the_documents_say(stack: LocalStack, tmp_path: Path) -> None:
    latest = command(stack, tmp_path, "latest")
    assert latest[0] == {"symbol": "BTCUSDT", "price": 97.5,
                         "ts": (T0 + timedelta(seconds=15)).isoformat().replace("+00:00", ".000Z")}
    assert latest[1]["price"] is None  # nothing stored for ETHUSDT

    (stats,) = command(stack, tmp_path, "stats", "btcusdt", "--limit", "3")
    assert stats == {"symbol": "BTCUSDT", "count": 3, "min": 97.0, "max": 103.0,
                     "avg": pytest.approx((103.0 + 97.0 + 97.5) / 3)}

    jumps = command(stack, tmp_path, "jumps", "BTCUSDT", "--threshold", "0.03")
    assert [(j["from_price"], j["to_price"]) for j in jumps] == [(100.5, 104.0), (103.0, 97.0)]

    result = run(stack, tmp_path, "stats", "BTCUSDT")
    assert result.stderr.splitlines()[-1] == f"read from the database fx at {stack.mongo_uri}"


def test_an_empty_result_says_where_it_looked_and_what_to_try(
    stack: LocalStack, tmp_path: Path,
) -> None:
    for args in (["latest"], ["stats", "ETHUSDT"], ["jumps", "ETHUSDT", "--json"]):
        result = run(stack, tmp_path, *args)
        assert result.stderr.splitlines()[-1].startswith(
            f"nothing stored in the database fx at {stack.mongo_uri}: is a worker recording "
            "into it (make run)? The demo's is in fx_demo: add --demo."), args


COMMANDS = [["latest"], ["stats", "BTCUSDT"], ["jumps", "BTCUSDT"],
            ["backfill", "BTCUSDT", "--since", "2026-12-01"],
            ["export", "trades", "BTCUSDT", "--since", "2026-12-01"]]


def test_each_command_without_a_database_fails_in_one_line(tmp_path: Path) -> None:
    uri = f"mongodb://reader:hunter2@127.0.0.1:{free_port()}"  # nothing listens there
    env = {"PATH": "/usr/bin:/bin", "CRYPTOFLOW_MONGO_URI": uri}
    runs = [subprocess.Popen(  # all at once: each waits for the database's timeout
        [sys.executable, "-m", "faust", "-A", "cryptoflow", *args], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for args in [*COMMANDS, ["latest", "--debug"]]]
    outcomes = [(process.wait(timeout=60), *process.communicate()) for process in runs]
    masked = uri.replace("hunter2", "***")
    for args, (status, out, err) in zip(COMMANDS, outcomes, strict=False):
        assert (status, out) == (1, ""), args
        assert err.splitlines() == [
            f"cryptoflow: the database fx at {masked} did not answer within 5s; start the "
            "local stack with make run (or make demo, and add --demo), or set "
            "CRYPTOFLOW_MONGO_URI (--debug shows the traceback)"], args
    status, _, err = outcomes[-1]
    assert status == 1
    assert "Traceback" in err
    assert "ServerSelectionTimeoutError" in err


def test_backfill_writes_the_klines_resumes_and_waits_out_a_429(
    stack: LocalStack, tmp_path: Path, exchange: SimExchangeThread,
    mongo: Database[dict[str, Any]],
) -> None:
    since = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    middle, until = since + timedelta(hours=1), since + timedelta(hours=3)

    def backfill(*extra: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", **stack.env(), "CRYPTOFLOW_BINANCE_URL": exchange.url}
        return subprocess.run(
            [sys.executable, "-m", "faust", "-A", "cryptoflow", "backfill", "ETHUSDT",
             "--since", since.isoformat(), *extra],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True)

    backfill("--until", middle.isoformat())  # stops part way, as an interrupted run would
    assert mongo["candles_1m"].count_documents({"symbol": "ETHUSDT"}) == 60
    exchange.sim.inject(Fault.status(429, retry_after=1))
    result = backfill("--until", until.isoformat())
    assert "120 minute(s) written" in result.stderr
    assert "the range now has candles for 180 of 180 minutes" in result.stderr

    docs = list(mongo["candles_1m"].find({"symbol": "ETHUSDT"}).sort("start", 1))
    assert len(docs) == 180 == len({doc["start"] for doc in docs})
    assert (docs[0]["start"], docs[-1]["start"]) == (since, until - timedelta(minutes=1))
    assert all(doc["low"] <= doc["open"] <= doc["high"] for doc in docs)
    klines = [r for r in exchange.sim.requests if r.path == "/api/v3/klines"]
    resumed = [r for r in klines if r.status == 200][1:]
    assert all(int(r.query["startTime"]) >= int(middle.timestamp() * 1000) for r in resumed)
    assert [r.status for r in klines].count(429) == 1
    assert exchange.sim.violations == []  # nothing sent inside the Retry-After


def run_backfill(
    stack: LocalStack, tmp_path: Path, binance_url: str, *args: str,
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **stack.env(), "CRYPTOFLOW_BINANCE_URL": binance_url}
    return subprocess.run(
        [sys.executable, "-m", "faust", "-A", "cryptoflow", "backfill", *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)


def test_backfill_fills_every_hole_and_leaves_the_live_candles_alone(
    stack: LocalStack, tmp_path: Path, exchange: SimExchangeThread,
    mongo: Database[dict[str, Any]],
) -> None:
    since = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    until = since + timedelta(hours=2)

    def minute(n: int) -> datetime:
        return since + timedelta(minutes=n)

    # candles of an earlier run (30-59, 70-79) and the live job's last two (118, 119)
    held = [*range(30, 60), *range(70, 80), 118, 119]
    mongo["candles_1m"].insert_many([
        {"_id": f"SOLUSDT/{minute(n).isoformat()}", "symbol": "SOLUSDT", "start": minute(n),
         "end": minute(n + 1), "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
         "count": 1, "mean": 1.0, "stddev": 0.0, "source": "earlier"} for n in held])
    exchange.sim.halt(minute(90), minute(99))  # no klines for 9 minutes
    args = ("SOLUSDT", "--since", since.isoformat(), "--until", until.isoformat())

    first = run_backfill(stack, tmp_path, exchange.url, *args)
    assert first.returncode == 0, first.stderr
    assert (f"SOLUSDT: candles_1m: 69 minute(s) written to the database fx at "
            f"{stack.mongo_uri} in ") in first.stderr
    assert "the range now has candles for 111 of 120 minutes" in first.stderr
    assert (f"minutes the exchange had no kline for: {format_ts(minute(90))} to "
            f"{format_ts(minute(99))} (9)") in first.stderr
    starts = {doc["start"] for doc in mongo["candles_1m"].find({"symbol": "SOLUSDT"})}
    assert starts == {minute(n) for n in range(120) if not 90 <= n < 99}
    assert mongo["candles_1m"].count_documents({"source": "earlier"}) == len(held)
    asked = [(int(r.query["startTime"]), int(r.query["endTime"]))
             for r in exchange.sim.requests if r.path == "/api/v3/klines"]
    holes = [(minute(a), minute(b)) for a, b in [(0, 30), (60, 70), (80, 118)]]
    assert sorted(asked) == [(to_ms(a), to_ms(b) - 1) for a, b in holes]

    again = run_backfill(stack, tmp_path, exchange.url, *args)
    assert again.returncode == 0, again.stderr
    assert "SOLUSDT: candles_1m: 0 minute(s) written" in again.stderr
    assert "the range now has candles for 111 of 120 minutes" in again.stderr
    assert mongo["candles_1m"].count_documents({"symbol": "SOLUSDT"}) == 111


def test_backfill_without_the_exchange_says_so_in_one_line_and_fails(
    stack: LocalStack, tmp_path: Path, mongo: Database[dict[str, Any]],
) -> None:
    since = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    result = run_backfill(stack, tmp_path, f"http://127.0.0.1:{free_port()}",
                          "BTCUSDT", "--since", since.isoformat())
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    failures = [line for line in result.stderr.splitlines() if "Binance: unreachable:" in line]
    assert len(failures) == 1, result.stderr
    assert failures[0].startswith("Binance: unreachable: ")
    assert failures[0].endswith("offline? start make demo and add --demo: its simulated "
                                "exchange and database)")
    assert mongo["candles_1m"].count_documents({}) == 0


def test_export_names_its_range_database_and_symbol(
    stack: LocalStack, tmp_path: Path, mongo: Database[dict[str, Any]],
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    since = datetime(2026, 11, 24, 12, tzinfo=UTC)
    until = since + timedelta(minutes=10)
    starts = [since + timedelta(minutes=n) for n in range(5)]
    mongo["candles_1m"].insert_many([
        {"_id": f"ETHUSDT/{start.isoformat()}", "symbol": "ETHUSDT", "start": start,
         "end": start + timedelta(minutes=1), "open": 1.0, "high": 2.0, "low": 0.5,
         "close": 1.5, "count": 4} for start in starts])

    result = run(stack, tmp_path, "export", "candles", "ETHUSDT", "--since",
                 since.isoformat(), "--until", until.isoformat(), "--format", "parquet",
                 "-o", "candles.parquet")
    assert result.stderr.splitlines()[-1].startswith(
        f"ETHUSDT: 5 1m candle(s) from 2026-11-24T12:00:00.000Z to 2026-11-24T12:10:00.000Z "
        f"of the database fx at {stack.mongo_uri} written to candles.parquet in ")
    rows = pq.read_table(tmp_path / "candles.parquet").to_pylist()
    assert [(row["symbol"], row["start"]) for row in rows] == [
        ("ETHUSDT", start) for start in starts]

    empty = run(stack, tmp_path, "export", "trades", "BTCUSDT", "--since", since.isoformat(),
                "--until", until.isoformat(), "-o", "none.csv")
    assert empty.stderr.splitlines()[-1].startswith(
        f"nothing stored for BTCUSDT in that range in the database fx at {stack.mongo_uri}: ")
