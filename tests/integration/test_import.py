"""`faust -A cryptoflow import FILE...` against a real database: the simulated exchange's
day of aggTrades and klines, archived as data.binance.vision lays them out, becomes the
trades, candles and ledger recording it live would have written; a second import changes
nothing; a file with a bad checksum or a name that is not Binance's is refused."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import (
    DAY_MS,
    MINUTE_MS,
    ArchivePlant,
    SimExchange,
)
from cryptoflow.records import trade_from_fields
from cryptoflow.sources.archives import (
    ArchiveKind,
    ArchiveName,
    ArchiveTrade,
    agg_trade_row,
    write_archive,
)
from cryptoflow.tables.coverage import union
from tests.conftest import stopped_exchange
from tests.integration.conftest import database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "BTCUSDT"
INVALID = 2
EXACT = ("open", "high", "low", "close", "volume", "trades", "taker_buy_volume")
QUOTE = ("quote_volume", "taker_buy_quote_volume")
KLINE_COLUMNS = {"open": 1, "high": 2, "low": 3, "close": 4, "volume": 5, "quote_volume": 7,
                 "trades": 8, "taker_buy_volume": 9, "taker_buy_quote_volume": 10}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimExchange]:
    """Four minutes of history at 100 trades/s, two trades marked invalid; stopped, so
    its history stays as it is while the tests read it."""
    yield stopped_exchange(SYMBOL, INVALID, seed=29, trade_rate=100.0, history=240.0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(kafka_port=0, mongo_port=0,
                    data_dir=tmp_path_factory.mktemp("stack")) as local:
        yield local


@pytest.fixture(scope="module")
def db(stack: LocalStack) -> Iterator[Database[dict[str, Any]]]:
    with database(stack) as db:
        yield db


def day_of(time_ms: int) -> date:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).date()


def today(sim: SimExchange) -> date:
    return day_of(sim.agg_trades(SYMBOL)[-1]["T"])


def start_of(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def archives(sim: SimExchange, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("archives")
    day = today(sim)
    kinds: tuple[ArchiveKind, ...] = ("aggTrades", "klines")
    return {kind: sim.write_archive(SYMBOL, kind, day, directory) for kind in kinds}


def run_import(stack: LocalStack, *args: str,
               database: str = "fx") -> subprocess.CompletedProcess[str]:
    """The command as a person runs it, from the repository (the code under test)."""
    env = {"PATH": "/usr/bin:/bin", **stack.env(), "CRYPTOFLOW_MONGO_DB": database}
    return subprocess.run([sys.executable, "-m", "faust", "-A", "cryptoflow", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture(scope="module")
def first(stack: LocalStack, archives: dict[str, Path],
          db: Database[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """The trades, then the klines, into the empty database."""
    assert db.list_collection_names() == []
    done = run_import(stack, "import", str(archives["aggTrades"]), str(archives["klines"]),
                      "--batch", "5000")
    assert done.returncode == 0, done.stderr
    return done


def day_trades(sim: SimExchange) -> list[dict[str, Any]]:
    day = today(sim)
    return [t for t in sim.agg_trades(SYMBOL) if day_of(t["T"]) == day]


def closing(output: str, file: Path) -> str:
    (line,) = [line for line in output.splitlines()
               if line.startswith(f"{file.name}: ") and " rows read; " in line]
    return line


def numbers(line: str) -> tuple[int, ...]:
    """rows read, new, already stored, candles written of a closing line."""
    found = re.search(r"([\d,]+) rows read; \S+: ([\d,]+) new, ([\d,]+) already stored; "
                      r"([\d,]+) candle\(s\) written", line)
    assert found, line
    return tuple(int(group.replace(",", "")) for group in found.groups())


def test_the_trades_are_the_exchanges_every_id_once(
    sim: SimExchange, db: Database[dict[str, Any]], first: subprocess.CompletedProcess[str],
    archives: dict[str, Path],
) -> None:
    now = datetime.now(UTC)
    expected = [trade_from_fields(t, SYMBOL, now).to_document() for t in day_trades(sim)]
    stored = list(db["trades"].find({"symbol": SYMBOL}).sort("trade_id", 1))
    assert stored == expected
    assert sum(1 for doc in stored if doc.get("invalid")) == INVALID
    assert numbers(closing(first.stderr, archives["aggTrades"]))[:3] == (
        len(expected), len(expected), 0)
    assert "to the database fx at mongodb://" in first.stderr
    assert "no CHECKSUM" not in first.stderr


def test_the_trade_candles_are_the_exchanges_klines(
    sim: SimExchange, db: Database[dict[str, Any]], first: subprocess.CompletedProcess[str],
    archives: dict[str, Path],
) -> None:
    trades = day_trades(sim)
    first_minute = trades[0]["T"] // MINUTE_MS * MINUTE_MS
    last_minute = trades[-1]["T"] // MINUTE_MS * MINUTE_MS  # the forming one is left out
    klines = {k[0]: k for k in sim.klines(SYMBOL, first_minute, last_minute - 1)}
    candles = {int(doc["start"].timestamp() * 1000): doc for doc in db["candles_1m"].find(
        {"symbol": SYMBOL, "source": "trades"})}
    complete = {minute: candle for minute, candle in candles.items() if minute < last_minute}
    assert sorted(complete) == sorted(klines)
    assert len(complete) >= 3
    for minute, kline in klines.items():
        candle = complete[minute]
        for name in EXACT:
            assert candle[name] == float(kline[KLINE_COLUMNS[name]]), (minute, name)
        assert candle["trades"] == kline[8]
        for name in QUOTE:
            assert math.isclose(candle[name], float(kline[KLINE_COLUMNS[name]]),
                                rel_tol=1e-15, abs_tol=1e-8), (minute, name)
    _rows, _new, _present, written = numbers(closing(first.stderr, archives["aggTrades"]))
    assert written == len(candles)
    # the klines fill every other minute of the day up to the last, and no trade candle
    day_start = start_of(today(sim))
    all_klines = sim.klines(SYMBOL, day_start, day_start + DAY_MS - 1)
    kline_rows, new, present, filled = numbers(closing(first.stderr, archives["klines"]))
    assert (kline_rows, new, present, filled) == (
        len(all_klines), len(all_klines) - len(candles), len(candles), new)
    assert db["candles_1m"].count_documents({"symbol": SYMBOL}) == len(all_klines)
    assert db["candles_1m"].count_documents({"source": "binance-klines"}) == new


def test_the_ledger_says_every_id_imported_none_missing(
    sim: SimExchange, stack: LocalStack, db: Database[dict[str, Any]],
    first: subprocess.CompletedProcess[str],
) -> None:
    trades = day_trades(sim)
    ids = [t["a"] for t in trades]
    hours = list(db["coverage"].find({"symbol": SYMBOL}))
    assert union(*(hour["imported"]["ids"] for hour in hours)) == [[ids[0], ids[-1]]]
    assert sum(hi - lo + 1 for hour in hours for lo, hi in hour["imported"]["ids"]) == len(ids)
    since = datetime.fromtimestamp(trades[0]["T"] / 1000, tz=UTC).replace(
        minute=0, second=0, microsecond=0)
    done = run_import(stack, "coverage", SYMBOL, "--since", since.isoformat(),
                      "--until", (since + timedelta(hours=2)).isoformat())
    assert done.returncode == 0, done.stderr
    assert "every trade id stored from" in done.stderr
    assert f"({len(ids)} stored)" in done.stderr


def test_a_second_import_changes_nothing(
    stack: LocalStack, db: Database[dict[str, Any]], first: subprocess.CompletedProcess[str],
    archives: dict[str, Path],
) -> None:
    collections = ("trades", "candles_1m", "coverage")
    before = {name: list(db[name].find().sort("_id", 1)) for name in collections}
    again = run_import(stack, "import", str(archives["aggTrades"]), str(archives["klines"]))
    assert again.returncode == 0, again.stderr
    assert {name: list(db[name].find().sort("_id", 1)) for name in collections} == before
    rows, new, _present, candles = numbers(closing(first.stderr, archives["aggTrades"]))
    assert numbers(closing(again.stderr, archives["aggTrades"])) == (rows, 0, new, candles)
    assert "trades: 0 new" in closing(again.stderr, archives["aggTrades"])
    kline_rows, kline_new, kline_present, _ = numbers(closing(first.stderr, archives["klines"]))
    assert numbers(closing(again.stderr, archives["klines"])) == (
        kline_rows, 0, kline_new + kline_present, 0)
    assert "candles_1m: 0 new" in closing(again.stderr, archives["klines"])


def test_a_bad_checksum_is_refused_and_nothing_written(
    sim: SimExchange, stack: LocalStack, tmp_path: Path,
) -> None:
    path = sim.write_archive(SYMBOL, "aggTrades", today(sim), tmp_path,
                             plant=ArchivePlant(bad_checksum=True))
    done = run_import(stack, "import", str(path), database="refused")
    assert done.returncode == 1
    assert f"{path.name}: refused, nothing written: its sha256 is not the one " \
           f"{path.name}.CHECKSUM gives" in done.stderr
    assert "0 of 1 file(s) imported, 1 failed" in done.stderr
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
    try:
        assert client["refused"].list_collection_names() == []
    finally:
        client.close()


def test_a_name_that_is_not_binances_is_one_line(
    archives: dict[str, Path], stack: LocalStack, tmp_path: Path,
) -> None:
    renamed = tmp_path / "btc-trades.zip"
    renamed.write_bytes(archives["aggTrades"].read_bytes())
    done = run_import(stack, "import", str(renamed), database="refused")
    assert done.returncode == 1
    assert done.stderr.splitlines()[0].startswith(
        "btc-trades.zip: refused, nothing written: 'btc-trades.zip' is not a Binance spot "
        "archive name")
    assert "Traceback" not in done.stderr


def test_a_file_without_checksum_is_imported_with_a_warning(
    archives: dict[str, Path], stack: LocalStack, tmp_path: Path,
) -> None:
    bare = tmp_path / archives["klines"].name
    bare.write_bytes(archives["klines"].read_bytes())
    done = run_import(stack, "import", str(bare), database="unverified")
    assert done.returncode == 0, done.stderr
    assert f"no CHECKSUM beside {bare}: not verified" in done.stderr


def test_a_refused_row_stops_its_file_and_what_came_before_stays(
    stack: LocalStack, tmp_path: Path,
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=1)
    rows = [ArchiveTrade(i, "100.50", "0.25000000", 2 * i, 2 * i + 1, start_of(day) + i,
                         False) for i in range(1, 6)]
    rows[3] = ArchiveTrade(4, "100.50", "0.25000000", 9, 7, start_of(day) + 4, False)
    path = write_archive(tmp_path, ArchiveName.daily(SYMBOL, "aggTrades", day),
                         [agg_trade_row(row, day) for row in rows])
    done = run_import(stack, "import", str(path), database="stopped")
    assert done.returncode == 1
    assert (f"{path.name}: aggregate trade 4 refused (last trade id 7 is before first trade "
            f"id 9): row 4,100.50,0.25000000,9,7,") in done.stderr
    assert numbers(closing(done.stderr, path)) == (3, 3, 0, 1)
    assert "stopped at the row above" in closing(done.stderr, path)
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
    try:
        assert [doc["trade_id"] for doc in client["stopped"]["trades"].find().sort(
            "trade_id", 1)] == [1, 2, 3]
        (hour,) = client["stopped"]["coverage"].find()
        assert hour["imported"]["ids"] == [[1, 3]]
        assert hour["imported"]["complete"] is False
    finally:
        client.close()
