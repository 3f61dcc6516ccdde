"""The worst query shape of each history endpoint, timed against a seeded local database.

``python -m bench.reads [--trades 200000] [--runs 5]`` starts a local stack, seeds it
twice (a hundredth of ``--trades`` first, at least two pages, then all of them, with
candles, ticks, alerts and gaps in proportion) and prints, per shape, the median time
of ``--runs`` reads at each size, through the functions the views call (no worker, no
HTTP). A read whose work is bounded takes about the same time at both sizes; one that
grows with the collection is a scan. The former trades read (a range of ``_id``s) is
timed beside the one that replaced it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, MongoClient

from bench.harness import local_stack
from cryptoflow.readback import candle_page, trade_page
from cryptoflow.records import PriceTick, Trade, trade_key
from cryptoflow.sinks.mongo import TRADES, TickStore
from cryptoflow.sources.market import GAPS
from cryptoflow.tables.candles import candle_id
from cryptoflow.tables.series import MINUTE, ONE_MINUTE, floor_to

SYMBOL = "BTCUSDT"
PAGE = 1000
LONG_AGO = datetime(2017, 1, 1, tzinfo=UTC)
Read = Callable[[TickStore], Awaitable[Any]]


def seed(uri: str, trades: int, now: datetime) -> dict[str, Read]:
    """``trades`` trades (5 a second up to ``now``) and their minutes' candles after a
    day of tick candles, a tick every 3 s for as long, an alert per 20 trades and a gap
    per 20 trades; returns the worst read of each endpoint on them."""
    client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
    db = client["fx"]
    for name in db.list_collection_names():
        db.drop_collection(name)
    first = now - timedelta(milliseconds=200 * trades)
    docs = [Trade(SYMBOL, i, 100.0 + i % 7, 0.5, i, i, int(
        (first + timedelta(milliseconds=200 * i)).timestamp() * 1000), i % 2 == 0).to_document()
        for i in range(trades)]
    minutes: dict[datetime, list[dict[str, Any]]] = {}
    for doc in docs:
        minutes.setdefault(floor_to(doc["ts"], MINUTE), []).append(doc)
    tick_minutes = [floor_to(first, MINUTE) - m * MINUTE for m in range(1, 24 * 60)]
    candles = [{"_id": candle_id(SYMBOL, start), "symbol": SYMBOL, "start": start,
                "end": start + MINUTE, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                "count": 20} for start in tick_minutes] + [
        {"_id": candle_id(SYMBOL, start), "symbol": SYMBOL, "start": start, "end": start + MINUTE,
         "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "source": "trades",
         "first_trade_id": part[0]["trade_id"], "last_trade_id": part[-1]["trade_id"]}
        for start, part in minutes.items()]
    ticks = [PriceTick(SYMBOL, 1.0, first - timedelta(seconds=3 * i)).to_document()
             for i in range(trades // 5)]
    alerts = [{"symbol": "ETHUSDT" if i % 10 else SYMBOL, "ts": first + timedelta(seconds=i)}
              for i in range(trades // 20)]
    gaps = [{"symbol": SYMBOL, "first_id": i, "last_id": i, "size": 1, "reason": "bench",
             "recorded_at": first + timedelta(seconds=i)} for i in range(trades // 20)]
    db["candles_1m"].create_index([("symbol", ASCENDING), ("start", ASCENDING)], unique=True,
                                  name="symbol_start_unique")
    db["alerts"].create_index([("ts", -1)], name="ts")
    for name, batch in ((TRADES, docs), ("candles_1m", candles), ("btc", ticks),
                        ("alerts", alerts), (GAPS, gaps)):
        for at in range(0, len(batch), 10_000):
            db[name].insert_many(batch[at:at + 10_000], ordered=False)
    client.close()
    newest = docs[-1]["ts"]
    former = {"_id": {"$gte": trade_key(SYMBOL, trades // 2), "$lt": f"{SYMBOL};"},
              "ts": {"$lt": LONG_AGO + timedelta(days=1)}}
    return {
        "trades: from an id, a day before every trade (the probe's query)":
            lambda s: trade_page(s, SYMBOL, LONG_AGO, LONG_AGO + timedelta(days=1),
                                 trades // 2, PAGE),
        "trades: past the newest, a day of candles looked through":
            lambda s: trade_page(s, SYMBOL, newest - timedelta(days=1), newest + MINUTE,
                                 trades, PAGE),
        "trades: the former read, a range of _ids (no longer run)":
            lambda s: s.client["fx"][TRADES].find(former).sort("_id").limit(PAGE).to_list(),
        "candles: 1,000 minutes of a long range":
            lambda s: candle_page(s, SYMBOL, ONE_MINUTE, tick_minutes[-1], now, PAGE, now),
        "candles: the last 2 h (the newest candle, then ticks)":
            lambda s: candle_page(s, SYMBOL, ONE_MINUTE, now - timedelta(hours=2), now,
                                  PAGE, now),
        "price history: 24 h of ticks (a range of _ids)":
            lambda s: s.ticks_between("btc", now - timedelta(days=1), now, 5000),
        "alerts: one symbol's newest 500":
            lambda s: s.recent_alerts("alerts", SYMBOL, None, 500),
        "streams: the newest 100 unfilled gaps":
            lambda s: s.recent(GAPS, {}, "recorded_at", 100),
    }


async def timed(uri: str, reads: dict[str, Read], runs: int) -> dict[str, float]:
    """Median milliseconds of ``runs`` of each read (after one untimed)."""
    store = TickStore(uri, "fx")
    medians = {}
    try:
        for name, read in reads.items():
            await read(store)
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                await read(store)
                times.append((time.perf_counter() - began) * 1000)
            medians[name] = statistics.median(times)
    finally:
        await store.close()
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reads", description=__doc__)
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    now = datetime.now(UTC)
    sizes = (max(args.trades // 100, 2 * PAGE), args.trades)
    figures: list[dict[str, float]] = []
    with local_stack() as stack:
        for size in sizes:
            figures.append(asyncio.run(timed(stack.mongo_uri, seed(stack.mongo_uri, size, now),
                                             args.runs)))
    print(f"median of {args.runs} reads, ms, at {sizes[0]:,} and {sizes[1]:,} stored trades:")
    for name in figures[0]:
        small, full = figures[0][name], figures[1][name]
        print(f"  {name}: {small:.0f} / {full:.0f} ({full / small:.1f}x)")


if __name__ == "__main__":
    main()
