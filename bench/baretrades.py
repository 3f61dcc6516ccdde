"""The bare faust trades pipeline, the floor of benchmark 7: stream → topic → insert_many.

Run as ``faust -A bench.baretrades worker`` on the same stack, with the broker settings
and the transport cryptoflow's worker uses there (``CRYPTOFLOW_*`` variables, read by
cryptoflow's settings). One task reads every symbol's ``aggTrade`` stream over one
combined-stream WebSocket and hands each trade's JSON to faust's producer, keyed by the
symbol, as cryptoflow's streams do; one agent takes batches as cryptoflow's agents do
(``CRYPTOFLOW_BATCH_SIZE`` or ``CRYPTOFLOW_BATCH_LINGER``) and writes them with
``insert_many``, each under cryptoflow's ``_id`` and with the trade's time as ``ts``,
so the benchmark's observer sees both alike. Nothing else: no book tickers, gap
filling, reconnects, tables, candles or dead letters. So it is what faust, the broker
and the database take for the same trades on the same machine. ``/counts/`` answers
the trades received and stored and the seconds spent in ``insert_many``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from faust.web import Request, Response, View
from pymongo import AsyncMongoClient

from bench.bareapp import bare_app
from cryptoflow.records import trade_key
from cryptoflow.settings import Settings

settings = Settings.from_env()
TOPIC = "bare-trades"


app = bare_app("bench-bare-trades", settings, producer_linger=settings.producer_linger)
trades_topic = app.topic(TOPIC, key_serializer="raw", value_serializer="raw")
counted = {"received": 0, "stored": 0, "write": 0.0}


@app.task
async def stream_trades() -> None:
    streams = "/".join(f"{symbol.lower()}@aggTrade" for symbol in settings.symbols)
    url = f"{settings.binance_ws_url}/stream?streams={streams}"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        async for message in ws:
            data = json.loads(message.data)["data"]
            key = json.dumps(data["s"]).encode()
            await app.producer.send(TOPIC, key, json.dumps(data).encode(), None, None, None)
            counted["received"] += 1


@app.agent(trades_topic)
async def store_trades(stream: Any) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri)
    trades = client[settings.mongo_db]["trades"]
    async for values in stream.take(settings.batch_size, within=settings.batch_linger):
        documents = []
        for value in values:
            data = json.loads(value)
            documents.append({
                "_id": trade_key(data["s"], data["a"]), "symbol": data["s"],
                "trade_id": data["a"], "price": float(data["p"]), "qty": float(data["q"]),
                "ts": datetime.fromtimestamp(data["T"] / 1000, UTC),
            })
        started = time.monotonic()
        await trades.insert_many(documents, ordered=False)
        counted["write"] += time.monotonic() - started
        counted["stored"] += len(documents)


@app.page("/counts/")
class CountsView(View):
    async def get(self, request: Request) -> Response:
        return self.json(counted)
