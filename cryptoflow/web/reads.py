"""The web's database reads, bounded so that readers can never starve the writer.

Every view that queries MongoDB goes through one ``WebReads``: at most
``concurrency`` queries run at a time, at most ``queue`` more wait for a slot, and
a request past that is answered 503 with ``Retry-After`` at once (an ``ApiError``)
instead of piling up in front of the database the persist agent writes to.
``cached`` also shares what repeats: identical requests within ``ttl`` seconds get
the answer of one query, and identical requests while that query runs wait for it
instead of sending their own. Pure asyncio, no I/O: the fetch is the caller's.

    async with app.web_reads.slot():
        docs = await app.store.some_query(...)

    body = await app.web_reads.cached(("history", symbol, minutes), 1.0, fetch)
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from cryptoflow.exceptions import ApiError

T = TypeVar("T")

DEFAULT_CACHE_ENTRIES = 64
RETRY_AFTER = 1.0


class WebReads:
    """A semaphore with a bounded wait queue, and a small cache with in-flight sharing."""

    def __init__(
        self, concurrency: int, queue: int, *, cache_entries: int = DEFAULT_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.concurrency = concurrency
        self.queue = queue
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._cache_entries = cache_entries
        self._cache: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Task[Any]] = {}
        self.running = 0
        self.waiting = 0
        self.peak = 0  # most queries that ever ran at once: never above ``concurrency``
        self.rejected = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the ``concurrency`` slots; 503 when ``queue`` are already waiting."""
        if self._slots.locked() and self.waiting >= self.queue:
            self.rejected += 1
            raise ApiError(503, f"too many database reads at once ({self.concurrency} "
                                f"running, {self.waiting} waiting); try again shortly",
                           retry_after=RETRY_AFTER)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()

    async def cached(self, key: Hashable, ttl: float, fetch: Callable[[], Awaitable[T]]) -> T:
        """``fetch()``'s answer for ``key``, run in a slot at most once per ``ttl`` seconds.

        Callers that arrive while it runs share its answer (or its error); one that
        gives up (a closed connection) does not cancel it for the others."""
        hit = self._cache.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]  # type: ignore[no-any-return]  # the cache holds each key's T (one dict for every T)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, ttl, fetch))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    async def _load(self, key: Hashable, ttl: float, fetch: Callable[[], Awaitable[T]]) -> T:
        async with self.slot():
            value = await fetch()
        now = self._clock()
        self._cache[key] = (now + ttl, value)
        self._cache.move_to_end(key)
        # Oldest first: drop what has expired, and the oldest beyond the size bound, so
        # that large answers are not kept past their use.
        while self._cache and (len(self._cache) > self._cache_entries
                               or next(iter(self._cache.values()))[0] <= now):
            self._cache.popitem(last=False)
        return value

    def _finished(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here too: every caller may have left already

    def describe(self) -> dict[str, int]:
        """For /api/health/: how busy the web's database reads are."""
        return {"concurrency": self.concurrency, "queue": self.queue, "running": self.running,
                "waiting": self.waiting, "peak": self.peak, "rejected": self.rejected,
                "cached": len(self._cache)}
