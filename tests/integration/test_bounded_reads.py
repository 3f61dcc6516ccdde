"""History read back against the real local database: every page's reads have bounded
work however many trades and candles are stored (the documents the server examines,
by its own explain), and trade paging crosses gaps of ids wider than a page without
losing a trade."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.database import Database
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.readback import RESUME_SPAN, Page, candle_page, trade_page
from cryptoflow.records import Trade
from cryptoflow.sinks.mongo import TickStore
from cryptoflow.tables.candles import candle_id
from cryptoflow.tables.series import MINUTE, ONE_MINUTE, floor_to
from tests.integration.conftest import WorkerProcess, get
from tests.integration.test_history import run_export

QUIET = {"CRYPTOFLOW_POLL_INTERVAL": "0", "CRYPTOFLOW_CANDLE_INTERVAL": "3600"}
NOW = datetime.now(UTC)
T0 = NOW.replace(second=0, microsecond=0) - timedelta(days=2)


def seed(db: Database[dict[str, Any]], symbol: str, ids: list[int], times: list[datetime],
         ) -> list[dict[str, Any]]:
    """Trades as the trades agent stores them, and their minutes' trade candles."""
    trades = [Trade(symbol, trade_id, 100.0 + trade_id % 7, 0.5, trade_id, trade_id,
                    int(ts.timestamp() * 1000), trade_id % 2 == 0).to_document()
              for trade_id, ts in zip(ids, times, strict=True)]
    db["trades"].insert_many(trades)
    minutes: dict[datetime, list[dict[str, Any]]] = {}
    for doc in trades:
        minutes.setdefault(floor_to(doc["ts"], MINUTE), []).append(doc)
    db["candles_1m"].create_index([("symbol", ASCENDING), ("start", ASCENDING)], unique=True,
                                  name="symbol_start_unique")
    db["candles_1m"].insert_many([{
        "_id": candle_id(symbol, start), "symbol": symbol, "start": start, "end": start + MINUTE,
        "open": docs[0]["price"], "high": max(d["price"] for d in docs),
        "low": min(d["price"] for d in docs), "close": docs[-1]["price"],
        "volume": 0.5 * len(docs), "trades": len(docs), "agg_trades": len(docs),
        "first_trade_id": docs[0]["trade_id"], "last_trade_id": docs[-1]["trade_id"],
        "source": "trades"} for start, docs in minutes.items()])
    return trades


class Finds(CommandListener):
    """The ``find`` commands a client sends."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.commands.append(dict(event.command))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


class WatchedStore(TickStore):
    """The worker's store, on a client whose ``find`` commands are kept."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri, "fx")
        self.finds = Finds()
        self._watched: AsyncMongoClient[dict[str, Any]] | None = None

    @property
    def client(self) -> AsyncMongoClient[dict[str, Any]]:
        if self._watched is None:
            self._watched = AsyncMongoClient(self._uri, tz_aware=True,
                                             event_listeners=[self.finds])
        return self._watched


def examined(db: Database[dict[str, Any]], find: dict[str, Any]) -> int:
    """The documents the server examines for ``find``, by its own ``explain``."""
    command = {key: find[key] for key in ("find", "filter", "sort", "limit") if key in find}
    return int(db.command("explain", command, verbosity="executionStats")[
        "executionStats"]["totalDocsExamined"])


@pytest.fixture
def many_trades(mongo: Database[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """20,000 BTCUSDT trades, 5 a second from T0, and 5,000 ETHUSDT ones."""
    times = [T0 + timedelta(milliseconds=200 * i) for i in range(20_000)]
    trades = seed(mongo, "BTCUSDT", list(range(1, 20_001)), times)
    seed(mongo, "ETHUSDT", list(range(1, 5001)), times[:5000])
    yield trades


@pytest.mark.parametrize(("what", "start", "end", "from_id"), [
    ("the probe's query: a day long before the trades, from an id among them",
     datetime(2017, 1, 1, tzinfo=UTC), datetime(2017, 1, 2, tzinfo=UTC), 10_000),
    ("the first page of a range", T0 + 10 * MINUTE, T0 + 20 * MINUTE, None),
    ("from past the newest trade", T0, T0 + timedelta(days=3), 25_000),
    ("from an id long before the range", T0 + 50 * MINUTE, T0 + 60 * MINUTE, 1),
])
def test_a_page_examines_at_most_its_limit_of_trades_and_a_day_of_candles(
    stack: LocalStack, mongo: Database[dict[str, Any]], many_trades: list[dict[str, Any]],
    what: str, start: datetime, end: datetime, from_id: int | None,
) -> None:
    store = WatchedStore(stack.mongo_uri)

    async def read() -> None:
        try:
            await trade_page(store, "BTCUSDT", start, end, from_id, 1000)
        finally:
            await store.client.close()

    asyncio.run(read())
    work = [examined(mongo, find) for find in store.finds.commands]
    assert store.finds.commands, what
    assert sum(work) <= 1000 + RESUME_SPAN // MINUTE, (what, work)
    assert sum(work) < len(many_trades) // 10, (what, work)  # nothing near a scan


@pytest.mark.parametrize(("what", "start", "limit"), [
    ("one candle from the first of three days", T0 - timedelta(days=1), 1),
    ("the last half hour, none stored for two hours", NOW - timedelta(minutes=30), 10),
])
def test_a_candle_page_examines_its_slots_not_the_stored_days(
    stack: LocalStack, mongo: Database[dict[str, Any]], what: str, start: datetime, limit: int,
) -> None:
    stored = [{"_id": candle_id("BTCUSDT", moment), "symbol": "BTCUSDT", "start": moment,
               "end": moment + MINUTE, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
               "count": 1}
              for moment in (T0 - timedelta(days=1) + m * MINUTE for m in range(3 * 24 * 60))
              if moment < NOW - timedelta(hours=2)]
    mongo["candles_1m"].create_index([("symbol", ASCENDING), ("start", ASCENDING)],
                                     unique=True, name="symbol_start_unique")
    mongo["candles_1m"].insert_many(stored)
    store = WatchedStore(stack.mongo_uri)

    async def read() -> Page:
        try:
            return await candle_page(store, "BTCUSDT", ONE_MINUTE, start, NOW, limit, NOW)
        finally:
            await store.client.close()

    page = asyncio.run(read())
    work = [examined(mongo, find) for find in store.finds.commands]
    assert sum(work) <= limit + 1, (what, work)
    assert len(page.candles) <= limit and page.next is not None, what


def gappy_trades(mongo: Database[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of trades with gaps of 150 to 10^6 ids between them, within a minute and
    across minutes and days (longer than a candle read looks through)."""
    hour = 3600
    runs = [(1, 250, 0), (400, 120, 300), (920, 130, 315), (1_000_000, 60, 26 * hour),
            (1_000_200, 40, 52 * hour)]  # (first id, trades, seconds after T0)
    ids, times = [], []
    for first, count, seconds in runs:
        ids += range(first, first + count)
        times += [T0 + timedelta(seconds=seconds, milliseconds=100 * i) for i in range(count)]
    return seed(mongo, "BTCUSDT", ids, times)


def test_following_next_crosses_gaps_wider_than_a_page(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
) -> None:
    """Pages of 100 yield every trade of the range once."""
    trades = gappy_trades(mongo)
    start, end = trades[30]["ts"], trades[-5]["ts"]
    worker = start_worker(**QUIET)
    url: str | None = f"/api/trades/BTCUSDT/?start={start.isoformat()}&end={end.isoformat()}" \
                      "&limit=100"
    seen: list[int] = []
    pages = 0
    while url is not None:
        status, body = get(worker, url)
        assert status == 200, body
        assert len(body["trades"]) <= 100
        seen += [trade["trade_id"] for trade in body["trades"]]
        url = body["next"] and "?".join(urlsplit(body["next"])[2:4])
        pages += 1
        assert pages < 50, "next never became null"
    assert seen == [doc["trade_id"] for doc in trades if start <= doc["ts"] < end]
    status, body = get(worker, "/api/trades/BTCUSDT/?from_id=100&start=2017-01-01T00:00:00Z"
                               "&end=2017-01-02T00:00:00Z&limit=1000")
    assert (status, body) == (200, {"symbol": "BTCUSDT", "trades": [], "next": None})


def test_export_writes_every_trade_across_the_gaps(
    stack: LocalStack, tmp_path: Path, mongo: Database[dict[str, Any]],
) -> None:
    trades = gappy_trades(mongo)
    result = run_export(stack, tmp_path, "trades", "btcusdt", "--since", T0.isoformat(),
                        "--until", (T0 + timedelta(days=3)).isoformat(), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["trade_id"] for line in result.stdout.splitlines()] == [
        doc["trade_id"] for doc in trades]
