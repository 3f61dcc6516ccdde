"""MongoDB access: batched, idempotent writes that survive a database outage.

``TickStore.insert`` writes a batch with ``insert_many(ordered=False)`` and only
returns once every document is in the database, a duplicate of one that is
(code 11000: a redelivered record), or rejected by the server for a reason
retrying cannot fix (returned, so the caller dead-letters it). Any other error
(server down, not primary, timeout) is retried with ``Backoff`` for as long as it
takes: the caller acknowledges the batch's offsets only after this returns. A document
the driver cannot encode as BSON (an integer beyond 64 bits) is rejected like one the
server refuses, and the rest of its batch is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from bson import encode
from bson.errors import InvalidDocument
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from cryptoflow.backoff import Backoff

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
TRADES = "trades"  # every aggregate trade of every symbol (agents/trades.py)
COVERAGE = "coverage"  # the coverage ledger: one document per symbol and hour (tables/coverage.py)
GAPS = "gaps"  # trade ids the streams could not fill, with why (sources/market.py)
OUTAGES = "outages"  # times a stream connection was down, with its symbols
ID_CHUNK = 25  # keys per ``$in`` query of ``TickStore.by_ids``
TTL_INDEX = "ts_retention"
# Where the worker read a stored tick from (``topic/partition/offset``): a duplicate
# whose stored origin is its own was written before by this very record.
ORIGIN_FIELD = "origin"


@dataclass
class WriteOutcome:
    """What became of one batch: new documents, documents already there (duplicate
    key), and rejects with reasons."""

    inserted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[dict[str, Any], str]] = field(default_factory=list)


class TickStore:
    """The worker's one MongoDB client, created lazily inside the running event loop."""

    def __init__(
        self, uri: str, database: str, *, backoff: Backoff | None = None,
        server_timeout: float = 5.0,
    ) -> None:
        self._uri = uri
        self._database = database
        self._backoff = backoff or Backoff()
        self._server_timeout_ms = int(server_timeout * 1000)
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._indexed: set[str] = set()  # collections (or collection.index) indexed already

    @property
    def client(self) -> AsyncMongoClient[dict[str, Any]]:
        if self._client is None:
            self._client = AsyncMongoClient(
                self._uri, serverSelectionTimeoutMS=self._server_timeout_ms,
                connectTimeoutMS=self._server_timeout_ms, tz_aware=True,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def ping(self) -> None:
        """Raises a ``PyMongoError`` when the database does not answer."""
        await self.client.admin.command("ping")

    async def last_trade_id(self, collection: str, symbol: str) -> int | None:
        """The highest aggregate trade id stored for ``symbol`` (through the ``_id`` index:
        ``trade_key`` orders a symbol's trades by id)."""
        doc = await self._retry(f"read the last trade of {symbol}", lambda: self.client[
            self._database][collection].find_one(
                {"_id": {"$gte": f"{symbol}:", "$lt": f"{symbol};"}}, {"trade_id": 1},
                sort=[("_id", DESCENDING)]))
        return int(doc["trade_id"]) if doc else None

    async def by_ids(self, collection: str, keys: Sequence[str]) -> list[dict[str, Any]]:
        """The stored documents of ``keys`` (``_id``s), in the order of ``keys``: point
        reads through the ``_id`` index (``$in``), so the work is one lookup per key however
        large the collection. A range of ``_id``s would not do: SecantusDB answers one by
        scanning the whole collection. Its cost of an ``$in`` grows faster than the
        number of keys, so they are asked ``ID_CHUNK`` at a time."""
        coll = self.client[self._database][collection]
        found: dict[str, dict[str, Any]] = {}
        for at in range(0, len(keys), ID_CHUNK):
            chunk = list(keys[at:at + ID_CHUNK])
            found.update((doc["_id"], doc) for doc in await coll.find(
                {"_id": {"$in": chunk}}).to_list())
        return [found[key] for key in keys if key in found]

    async def upsert(self, collection: str, documents: Sequence[dict[str, Any]]) -> None:
        """Replace by ``_id``, inserting what is new; written again, nothing changes."""
        if documents:
            coll = self.client[self._database][collection]
            await self._retry(f"upsert into {collection}", lambda: coll.bulk_write(
                [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in documents],
                ordered=False))

    async def set_fields(self, collection: str, documents: Sequence[dict[str, Any]]) -> None:
        """Set the fields of each document on the stored one of its ``_id`` (inserting it
        if there is none); fields not named stay as they are, so writers of different
        fields of one document never undo each other. Written again, nothing changes."""
        if documents:
            coll = self.client[self._database][collection]
            await self._retry(f"update {collection}", lambda: coll.bulk_write(
                [UpdateOne({"_id": doc["_id"]},
                           {"$set": {k: v for k, v in doc.items() if k != "_id"}},
                           upsert=True) for doc in documents], ordered=False))

    async def ledger_hours(
        self, collection: str, symbol: str, start: datetime, end: datetime,
    ) -> list[dict[str, Any]]:
        """The ledger documents of ``symbol``'s hours in [start, end), oldest first."""
        await self._once(collection, [("symbol", ASCENDING), ("hour", ASCENDING)],
                         "symbol_hour")
        coll = self.client[self._database][collection]
        return list(await self._retry(f"read {collection}", lambda: coll.find(
            {"symbol": symbol, "hour": {"$gte": start, "$lt": end}}).sort(
            [("symbol", ASCENDING), ("hour", ASCENDING)]).to_list()))

    async def overlapping_gaps(
        self, collection: str, symbol: str, ids: tuple[int, int] | None,
    ) -> list[dict[str, Any]]:
        """The recorded gaps of ``symbol`` that touch the ids ``ids`` (first, last)."""
        if ids is None:
            return []
        coll = self.client[self._database][collection]
        return list(await self._retry(f"read {collection}", lambda: coll.find(
            {"symbol": symbol, "first_id": {"$lte": ids[1]}, "last_id": {"$gte": ids[0]}},
            {"_id": 0}).to_list()))

    async def outages_between(
        self, collection: str, symbol: str, start: datetime, end: datetime,
    ) -> list[dict[str, Any]]:
        """The stream outages of ``symbol`` that overlap [start, end) (one without an end
        was not seen to end)."""
        coll = self.client[self._database][collection]
        return list(await self._retry(f"read {collection}", lambda: coll.find(
            {"symbols": symbol, "start": {"$lt": end},
             "$or": [{"end": None}, {"end": {"$gt": start}}]},
            {"_id": 0}).sort("start", ASCENDING).to_list()))

    async def _once(self, collection: str, keys: list[tuple[str, int]], name: str) -> None:
        """``ensure_index`` once per worker."""
        if f"{collection}.{name}" not in self._indexed:
            await self.ensure_index(collection, keys, name)
            self._indexed.add(f"{collection}.{name}")

    async def recent(
        self, collection: str, query: dict[str, Any], sort: str, limit: int,
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` documents matching ``query`` by ``sort``, newest first."""
        cursor = self.client[self._database][collection].find(query).sort(
            sort, DESCENDING).limit(limit)
        return await cursor.to_list()

    async def ticks_between(
        self, collection: str, start: datetime, end: datetime, limit: int = 0,
    ) -> list[dict[str, Any]]:
        """The ticks of a symbol's collection in [start, end), oldest first, through the
        ``_id`` index (their event time); at most ``limit`` of them (0: all)."""
        cursor = self.client[self._database][collection].find(
            {"_id": {"$gte": start, "$lt": end}}, {"_id": 0, "price": 1, "ts": 1},
        ).sort("_id", ASCENDING).limit(limit)
        return await cursor.to_list()

    async def candles_between(
        self, collection: str, symbol: str, start: datetime, end: datetime, limit: int = 0,
        source: str | None = None,
    ) -> list[dict[str, Any]]:
        """Candles of ``symbol`` starting in [start, end), oldest first; at most ``limit``
        (0: all), only those built from ``source`` if given."""
        query: dict[str, Any] = {"symbol": symbol, "start": {"$gte": start, "$lt": end}}
        if source is not None:
            query["source"] = source
        cursor = self.client[self._database][collection].find(query).sort(
            [("symbol", ASCENDING), ("start", ASCENDING)]).limit(limit)
        return await cursor.to_list()

    async def last_ticks(self, collection: str, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` ticks of a symbol's collection, returned oldest first:
        the original design's ``sort=[('_id', -1)]``."""
        cursor = self.client[self._database][collection].find(
            {}, {"_id": 0, "price": 1, "ts": 1}).sort("_id", DESCENDING).limit(limit)
        return list(reversed(await cursor.to_list()))

    async def candle_starts(
        self, collection: str, symbol: str, start: datetime, end: datetime,
    ) -> list[datetime]:
        """``start`` of every candle of ``symbol`` starting in [start, end)."""
        coll = self.client[self._database][collection]
        found = await self._retry(f"read candle starts in {collection}", lambda: coll.find(
            {"symbol": symbol, "start": {"$gte": start, "$lt": end}},
            {"_id": 0, "start": 1}).to_list())
        return [doc["start"] for doc in found]

    async def count_candles(
        self, collection: str, symbol: str, start: datetime, end: datetime,
    ) -> int:
        """How many candles of ``symbol`` start in [start, end)."""
        coll = self.client[self._database][collection]
        count: int = await self._retry(f"count candles in {collection}", partial(
            coll.count_documents, {"symbol": symbol, "start": {"$gte": start, "$lt": end}}))
        return count

    async def latest_start(self, collection: str, symbol: str) -> datetime | None:
        """``start`` of the newest candle of ``symbol``."""
        doc = await self.client[self._database][collection].find_one(
            {"symbol": symbol}, {"start": 1},
            sort=[("symbol", ASCENDING), ("start", DESCENDING)])
        return doc["start"] if doc else None

    async def replace(self, collection: str, documents: Sequence[dict[str, Any]]) -> None:
        """Upsert candles by ``_id``: writing the same documents again changes nothing."""
        if documents:
            await self._candle_index(collection)
            await self.upsert(collection, documents)

    async def replace_only(
        self, collection: str, documents: Sequence[dict[str, Any]], only: dict[str, Any],
    ) -> int:
        """Upsert candles by ``_id`` where the stored one matches ``only`` (or none is
        stored); returns how many were written. The database checks and writes each in
        one step: a stored document that does not match (written at any time, also
        between a caller's read and this write) makes the upsert's insert a duplicate key,
        and it stays as it is."""
        if not documents:
            return 0
        await self._candle_index(collection)
        coll = self.client[self._database][collection]
        requests = [ReplaceOne({"_id": doc["_id"], **only}, doc, upsert=True)
                    for doc in documents]
        delays = self._backoff.delays()
        while True:
            try:
                await coll.bulk_write(requests, ordered=False)
            except BulkWriteError as err:
                errors = err.details.get("writeErrors", [])
                if not err.details.get("writeConcernErrors") and all(
                        error.get("code") == DUPLICATE_KEY for error in errors):
                    return len(documents) - len(errors)
                await self._pause(f"upsert into {collection}", err, next(delays))
            except PyMongoError as err:
                await self._pause(f"upsert into {collection}", err, next(delays))
            else:
                return len(documents)

    async def _candle_index(self, collection: str) -> None:
        """The unique (symbol, start) index of a candle collection, once per worker."""
        if collection not in self._indexed:
            coll = self.client[self._database][collection]
            await self._retry(f"create index on {collection}", partial(
                coll.create_index, [("symbol", ASCENDING), ("start", ASCENDING)], unique=True,
                name="symbol_start_unique"))
            self._indexed.add(collection)

    async def ensure_index(self, collection: str, keys: list[tuple[str, int]], name: str) -> None:
        """An index on ``keys``, for a read that sorts or filters on them, so it walks no
        more than it returns (on MongoDB); each index costs every write, so only on
        collections written rarely (alerts, gaps)."""
        coll = self.client[self._database][collection]
        await self._retry(f"create index on {collection}",
                          lambda: coll.create_index(keys, name=name))

    async def recent_alerts(
        self, collection: str, symbol: str | None, since: datetime | None, limit: int,
    ) -> list[dict[str, Any]]:
        """Newest first, bounded by ``limit``."""
        query: dict[str, Any] = {}
        if symbol is not None:
            query["symbol"] = symbol
        if since is not None:
            query["ts"] = {"$gte": since}
        cursor = self.client[self._database][collection].find(query, {"_id": 0}).sort(
            "ts", DESCENDING).limit(limit)
        return await cursor.to_list()

    async def set_retention(self, collections: Iterable[str], days: int) -> None:
        """A TTL index on ``ts``: MongoDB itself deletes ticks older than ``days``
        (no job to fail or to schedule); 0 drops it, so ticks are kept forever."""
        wanted = days * 86_400 if days else None
        for name in collections:
            coll = self.client[self._database][name]
            indexes = await self._retry(f"list indexes of {name}", coll.index_information)
            current = indexes.get(TTL_INDEX, {}).get("expireAfterSeconds")
            if current == wanted:
                continue
            if current is not None:
                await self._retry(f"drop the TTL index of {name}",
                                  partial(coll.drop_index, TTL_INDEX))
            if wanted is not None:
                await self._retry(f"create the TTL index of {name}", partial(
                    coll.create_index, "ts", name=TTL_INDEX, expireAfterSeconds=wanted))

    async def delete_before(self, collection: str, cutoff: datetime) -> int:
        """Delete the ticks older than ``cutoff`` by ``_id`` range (their event time);
        returns how many."""
        coll = self.client[self._database][collection]
        result = await self._retry(f"delete old ticks from {collection}", partial(
            coll.delete_many, {"_id": {"$lt": cutoff}}))
        return int(result.deleted_count)

    async def insert(self, collection: str, documents: Sequence[dict[str, Any]]) -> WriteOutcome:
        """Write all of ``documents``; returns only when none is left unwritten."""
        outcome = WriteOutcome()
        pending = list(documents)
        coll = self.client[self._database][collection]
        delays = self._backoff.delays()
        while pending:
            try:
                await coll.insert_many(pending, ordered=False)
            except (InvalidDocument, OverflowError):
                # The driver cannot encode one (an integer over 64 bits, say): nothing
                # was sent; set those aside and write the rest.
                pending = _encodable(pending, outcome)
            except BulkWriteError as err:
                pending = self._sort_bulk_errors(err.details, pending, outcome)
                if pending:
                    await self._pause(f"insert into {collection}", err, next(delays))
            except PyMongoError as err:
                await self._pause(f"insert into {collection}", err, next(delays))
            else:
                outcome.inserted.extend(pending)
                pending = []
        return outcome

    async def origins(
        self, collection: str, documents: Sequence[dict[str, Any]],
    ) -> dict[datetime, str | None]:
        """The origin of the ticks MongoDB holds under the keys (``ts``) of ``documents``
        (``None`` for one stored without), by ``_id``."""
        if not documents:
            return {}
        coll = self.client[self._database][collection]
        keys = [document["_id"] for document in documents]
        projection = {"_id": 0, "ts": 1, ORIGIN_FIELD: 1}
        found = await self._retry(f"read origins in {collection}", lambda: coll.find(
            {"_id": {"$in": keys}}, projection).to_list())
        return {doc["ts"]: doc.get(ORIGIN_FIELD) for doc in found}

    @staticmethod
    def _sort_bulk_errors(
        details: Mapping[str, Any], pending: list[dict[str, Any]], outcome: WriteOutcome,
    ) -> list[dict[str, Any]]:
        """Count duplicates, set aside rejects; return what must be retried."""
        if details.get("writeConcernErrors"):
            # Acknowledgement was not durable: write everything again (duplicates are ok).
            return pending
        failed = set()
        for error in details.get("writeErrors", []):
            failed.add(error["index"])
            if error.get("code") == DUPLICATE_KEY:
                outcome.duplicates.append(pending[error["index"]])
            else:
                reason = f"database rejected the document: {error.get('errmsg', error)}"
                outcome.rejected.append((pending[error["index"]], reason))
        outcome.inserted.extend(doc for i, doc in enumerate(pending) if i not in failed)
        return []

    async def _retry(self, what: str, operation: Any) -> Any:
        delays = self._backoff.delays()
        while True:
            try:
                return await operation()
            except PyMongoError as err:
                await self._pause(what, err, next(delays))

    @staticmethod
    async def _pause(what: str, err: PyMongoError, delay: float) -> None:
        log.warning("MongoDB: %s failed (%s: %s); retrying in %.1fs",
                    what, type(err).__name__, err, delay)
        await asyncio.sleep(delay)


def _encodable(
    documents: list[dict[str, Any]], outcome: WriteOutcome,
) -> list[dict[str, Any]]:
    """The documents BSON can hold; the others go to ``outcome.rejected`` with why."""
    kept = []
    for document in documents:
        try:
            encode(document)
        except (InvalidDocument, OverflowError) as err:
            reason = f"database rejected the document: BSON cannot hold it: {err}"
            outcome.rejected.append((document, reason))
        else:
            kept.append(document)
    return kept
