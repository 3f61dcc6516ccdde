"""What one poll of many symbols costs the local database, without a worker.

A poll of N symbols is N ticks in N collections. ``python -m bench.roundtrips``
writes rounds of one tick into each of N indexed collections, three ways, and
prints the median time of a round: ``insert_many`` per collection one after the
other (what the persist agent does), the same calls at once, and one client-level
``bulkWrite`` (MongoDB 8.0's command for several collections, which SecantusDB
answers). When a round takes longer than the poll interval, no consumer can keep
up at that rate (bench/README.md, benchmark 4 with 50 symbols).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, InsertOne

from bench.harness import local_stack, symbols
from cryptoflow.settings import topic_name

Round = Callable[[dict[str, dict[str, Any]]], Awaitable[Any]]


async def measure(uri: str, count: int, rounds: int) -> dict[str, float]:
    """Median milliseconds per round of ``count`` one-document writes, per way."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = client["fx"]
    names = [topic_name(symbol) for symbol in symbols(count)]
    for name in names:
        await db[name].create_index([("symbol", ASCENDING), ("ts", ASCENDING)], unique=True)

    async def one_after_the_other(docs: dict[str, dict[str, Any]]) -> None:
        for name, doc in docs.items():
            await db[name].insert_many([doc], ordered=False)

    async def at_once(docs: dict[str, dict[str, Any]]) -> None:
        await asyncio.gather(*(db[name].insert_many([doc], ordered=False)
                               for name, doc in docs.items()))

    async def client_bulk_write(docs: dict[str, dict[str, Any]]) -> None:
        await client.bulk_write([InsertOne(doc, namespace=f"fx.{name}")
                                 for name, doc in docs.items()], ordered=False)

    ways: dict[str, Round] = {
        "insert_many per collection, one after the other": one_after_the_other,
        "insert_many per collection, at once": at_once,
        "one client-level bulkWrite": client_bulk_write,
    }
    start = datetime.now(UTC).replace(microsecond=0)
    timings: dict[str, list[float]] = {way: [] for way in ways}
    try:
        for i in range(rounds):
            for j, (way, write) in enumerate(ways.items()):
                ts = start + timedelta(milliseconds=i * len(ways) + j)
                docs = {name: {"symbol": name, "price": 1.0, "ts": ts} for name in names}
                began = time.perf_counter()
                await write(docs)
                timings[way].append((time.perf_counter() - began) * 1000)
    finally:
        await client.close()
    return {way: statistics.median(values) for way, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.roundtrips", description=__doc__)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with local_stack() as stack:
        medians = asyncio.run(measure(stack.mongo_uri, args.symbols, args.rounds))
    print(f"a round of {args.symbols} one-document writes, median of {args.rounds}:")
    for way, ms in medians.items():
        print(f"  {way}: {ms:.0f} ms")


if __name__ == "__main__":
    main()
