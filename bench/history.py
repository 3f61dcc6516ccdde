"""What long history reads cost the writer: readers in a crowd against ingestion.

A worker polls the simulated exchange every 0.5 s while ``--clients`` clients ask
``/api/prices/history/BTCUSDT/?minutes=...`` for ``--seconds`` (5,000 stored ticks per
answer), each sending its next request when the last is answered: all the same
request (``identical``, the dashboard's case: they share one query) or each a
different ``minutes`` (``distinct``: every request is a query). Printed per case and
``CRYPTOFLOW_WEB_READS``: answers, 503s, the slowest answer, and the most the
newest stored tick aged meanwhile (its age is about the poll interval when the
writer keeps up). ``python -m bench.history [--reads 1 2 4]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient

from bench.harness import Worker, local_stack
from cryptoflow.devstack.simexchange import SimExchangeThread
from cryptoflow.records import PriceTick, to_millis

TICKS = 5000
HISTORY = "/api/prices/history/BTCUSDT/?minutes="


async def crowd(url: str, mongo_uri: str, clients: int, seconds: float,
                identical: bool) -> dict[str, float]:
    """Answers, refusals, slowest answer (s) and the newest tick's worst age (s)."""
    minutes = itertools.count()
    found = {"answers": 0.0, "503": 0.0, "slowest": 0.0, "tick age": 0.0}
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            path = HISTORY + ("1440" if identical else str(1000 + next(minutes) % 440))
            began = time.monotonic()
            async with session.get(url + path) as response:
                await response.read()
                found["answers" if response.status == 200 else "503"] += 1
            found["slowest"] = max(found["slowest"], time.monotonic() - began)

    async def watch(db: Any) -> None:
        while time.monotonic() < deadline:
            newest = await db["eth"].find_one(sort=[("_id", -1)])
            if newest is not None:
                age = (datetime.now(UTC) - newest["ts"]).total_seconds()
                found["tick age"] = max(found["tick age"], age)
            await asyncio.sleep(0.5)

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as s:
            await asyncio.gather(watch(mongo["fx"]), *(client(s) for _ in range(clients)))
    finally:
        await mongo.close()
    return found


def run(reads: int, clients: int, seconds: float, identical: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cryptoflow-bench-") as tmp, local_stack() as stack, \
            SimExchangeThread(seed=3) as exchange:
        now = datetime.now(UTC)
        asyncio.run(_store_history(stack.mongo_uri, now))
        with Worker(stack, Path(tmp), CRYPTOFLOW_BINANCE_URL=exchange.url,
                    CRYPTOFLOW_POLL_INTERVAL="0.5", CRYPTOFLOW_WEB_READS=str(reads)) as worker:
            return asyncio.run(crowd(f"http://127.0.0.1:{worker.web_port}", stack.mongo_uri,
                                     clients, seconds, identical))


async def _store_history(uri: str, now: datetime) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        await client["fx"]["btc"].insert_many([
            PriceTick(symbol="BTCUSDT", price=60_000.0 + i,
                      ts=to_millis(now - timedelta(seconds=i / 2))).to_document()
            for i in range(TICKS)])
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--reads", type=int, nargs="+", default=[1, 2, 4],
                        help="values of CRYPTOFLOW_WEB_READS to try")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(f"{args.clients} clients for {args.seconds:g} s, {TICKS} ticks per answer:")
    for identical, reads in itertools.product((True, False), args.reads):
        found = run(reads, args.clients, args.seconds, identical)
        print(f"  {'identical' if identical else 'distinct'} requests, {reads} at once: "
              f"{found['answers']:.0f} answers, {found['503']:.0f} refused, slowest "
              f"{found['slowest']:.2f} s, newest tick up to {found['tick age']:.1f} s old",
              flush=True)


if __name__ == "__main__":
    main()
