"""`faust -A cryptoflow verify` against the simulated exchange: a recording stored as
the history writer stores it (no worker) is equal to the exchange's klines and archives,
and each planted difference, missing trade and unreadable source is reported as what it
is, with the exit status the command documents."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from cryptoflow.commands.verify import ARCHIVE_DIFFERS
from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.devstack.simexchange import ArchivePlant, SimExchangeThread
from cryptoflow.records import format_ts, trade_from_fields, trade_key
from cryptoflow.sinks.history import HistoryWriter
from cryptoflow.sinks.mongo import COVERAGE, TRADES, TickStore
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration

SYMBOL = "BTCUSDT"
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Recorded:
    """The stack, the running exchange, and what was stored of its history."""

    stack: LocalStack
    exchange: SimExchangeThread
    db: Database[dict[str, Any]]
    trades: list[dict[str, Any]]  # as aggTrades lists them, the stored ones
    since: datetime
    until: datetime

    def run(self, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", **self.stack.env(),
               "CRYPTOFLOW_BINANCE_URL": url or self.exchange.url}
        return subprocess.run(
            [sys.executable, "-m", "faust", "-A", "cryptoflow", "verify", SYMBOL,
             "--since", self.since.isoformat(), "--until", self.until.isoformat(), *args],
            env=env, capture_output=True, text=True, timeout=60, check=False)

    def inside(self) -> list[dict[str, Any]]:
        """The stored trades of the range that share their archive day with the middle one."""
        middle = self.since + (self.until - self.since) / 2
        return [t for t in self.trades if self.since + timedelta(minutes=1) <= at(t)
                < self.until - timedelta(minutes=1) and at(t).date() == middle.date()]

    def archive(self, tmp_path: Path, plant: ArchivePlant | None = None) -> Path:
        day = self.inside()[0]
        return self.exchange.sim.write_archive(SYMBOL, "aggTrades", at(day).date(), tmp_path,
                                               plant=plant)


def at(trade: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(trade["T"] / 1000, tz=UTC)


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


async def store_history(uri: str, trades: list[dict[str, Any]]) -> None:
    store = TickStore(uri, "fx")
    try:
        writer = HistoryWriter(store, SYMBOL, "imported")
        now = datetime.now(UTC)
        await writer.write([trade_from_fields(t, SYMBOL, now) for t in trades])
        await writer.finish()
    finally:
        await store.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """Twelve minutes of the exchange's history stored from inside a minute on, the
    range from that minute to two minutes before the history ends."""
    with LocalStack(kafka_port=0, mongo_port=0,
                    data_dir=tmp_path_factory.mktemp("stack")) as stack, \
            SimExchangeThread(seed=23, trade_rate=2.0, history=720.0) as exchange:
        history = exchange.sim.agg_trades(SYMBOL)
        start = at(history[0]) + timedelta(minutes=1, seconds=30)
        trades = [t for t in history if at(t) >= start]
        asyncio.run(store_history(stack.mongo_uri, trades))
        client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri, tz_aware=True)
        try:
            yield Recorded(stack, exchange, client["fx"], trades, minute_of(at(trades[0])),
                           minute_of(at(trades[-1])) - timedelta(minutes=2))
        finally:
            client.close()


def ledger(recorded: Recorded, since: datetime | None = None) -> list[dict[str, Any]]:
    """The ledger hours verified (at or after ``since``: by the run that followed it)."""
    since = since or datetime(2017, 1, 1, tzinfo=UTC)
    return list(recorded.db[COVERAGE].find(
        {"symbol": SYMBOL, "verified.at": {"$gte": since.replace(microsecond=0)}}).sort("hour"))


def test_an_equal_recording_exits_0_and_marks_its_hours_equal(recorded: Recorded) -> None:
    started = datetime.now(UTC)
    done = recorded.run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{SYMBOL}: equal: " in done.stdout
    assert "compared against klines" in done.stdout
    assert f"begins inside the minute {format_ts(at(recorded.trades[0]))}" in done.stdout
    hours = ledger(recorded, started)
    # Minutes compared: from the one after the partial first to the last; under an hour.
    first, last = recorded.since + timedelta(minutes=1), recorded.until - timedelta(minutes=1)
    assert {h["hour"] for h in hours} == {first.replace(minute=0), last.replace(minute=0)}
    assert {(h["verified"]["against"], h["verified"]["result"], h["verified"]["differences"])
            for h in hours} == {("klines", "equal", 0)}


def test_an_equal_archive_exits_0(recorded: Recorded, tmp_path: Path) -> None:
    done = recorded.run("--archive", str(recorded.archive(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "compared against the archive" in done.stdout


def test_a_changed_quantity_in_the_archive_is_the_archives_when_rest_agrees_with_the_recording(
    recorded: Recorded, tmp_path: Path,
) -> None:
    trade = recorded.inside()[5]
    path = recorded.archive(tmp_path, ArchivePlant(changed_qty={trade["a"]: "9.87654321"}))
    started = datetime.now(UTC)
    done = recorded.run("--archive", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (f"id {trade['a']} qty: recorded {float(trade['q'])!r}, the archive 9.87654321 "
            f"({ARCHIVE_DIFFERS})") in done.stdout
    assert f"{SYMBOL}: 1 difference(s)" in done.stdout
    hour = at(trade).replace(minute=0, second=0, microsecond=0)
    assert [(h["verified"]["against"], h["verified"]["result"], h["verified"]["differences"])
            for h in ledger(recorded, started) if h["hour"] == hour] == [("archive", "differs", 1)]


def test_a_row_missing_in_the_archive_is_reported_on_the_archives_side(
    recorded: Recorded, tmp_path: Path,
) -> None:
    trade = recorded.inside()[7]
    path = recorded.archive(tmp_path, ArchivePlant(missing=frozenset({trade["a"]})))
    done = recorded.run("--archive", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"id {trade['a']} missing in the archive ({ARCHIVE_DIFFERS})" in done.stdout


def test_a_trade_deleted_from_the_recording_differs_from_its_kline(recorded: Recorded) -> None:
    trade = recorded.inside()[3]
    stored = recorded.db[TRADES].find_one_and_delete({"_id": trade_key(SYMBOL, trade["a"])})
    assert stored is not None
    try:
        done = recorded.run()
    finally:
        recorded.db[TRADES].insert_one(stored)
    assert done.returncode == 1, done.stdout + done.stderr
    minute = minute_of(at(trade)).strftime("%Y-%m-%dT%H:%MZ")
    kline = recorded.exchange.sim.klines(SYMBOL, trade["T"] - trade["T"] % MINUTE_MS,
                                         trade["T"] - trade["T"] % MINUTE_MS)[0]
    raw = trade["l"] - trade["f"] + 1
    assert f"minute {minute} trades: recorded {kline[8] - raw}, klines {kline[8]}" in done.stdout
    assert f"minute {minute} volume: recorded" in done.stdout
    assert (f"ids {trade['a']}..{trade['a']} missing in the recording; Binance's REST serves "
            "them") in done.stdout


def test_an_unreachable_exchange_exits_2(recorded: Recorded) -> None:
    done = recorded.run(url=f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "could not read its source: Binance: unreachable" in done.stderr


def test_a_bad_checksum_exits_2_and_marks_nothing(recorded: Recorded, tmp_path: Path) -> None:
    before = ledger(recorded)
    done = recorded.run("--archive", str(recorded.archive(tmp_path, ArchivePlant(
        bad_checksum=True))))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "could not read its source" in done.stderr
    assert "CHECKSUM" in done.stderr
    assert ledger(recorded) == before


def test_a_klines_archive_compares_like_klines(recorded: Recorded, tmp_path: Path) -> None:
    day = at(recorded.inside()[0]).date()
    path = recorded.exchange.sim.write_archive(SYMBOL, "klines", day, tmp_path)
    done = recorded.run("--archive", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{SYMBOL}: equal: " in done.stdout
    assert "minute(s) compared against the archive" in done.stdout
