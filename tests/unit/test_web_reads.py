"""WebReads: never more than N queries at once, a bounded queue, repeats shared."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from cryptoflow.exceptions import ApiError
from cryptoflow.web.reads import WebReads


class Gate:
    """A stand-in query that holds its slot until the test opens the gate."""

    def __init__(self, reads: WebReads) -> None:
        self.reads = reads
        self.opened = asyncio.Event()
        self.calls = 0
        self.most_at_once = 0

    async def query(self) -> int:
        self.calls += 1
        self.most_at_once = max(self.most_at_once, self.reads.running)
        await self.opened.wait()
        return self.calls


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_no_more_than_concurrency_queries_run_at_once() -> None:
    reads = WebReads(concurrency=2, queue=50)
    gate = Gate(reads)

    async def one() -> int:
        async with reads.slot():
            return await gate.query()

    tasks = [asyncio.ensure_future(one()) for _ in range(20)]
    await settle()
    assert (reads.running, reads.waiting) == (2, 18)
    gate.opened.set()
    await asyncio.gather(*tasks)
    assert gate.calls == 20
    assert gate.most_at_once == reads.peak == 2
    assert (reads.running, reads.waiting) == (0, 0)


@pytest.mark.asyncio
async def test_past_the_queue_a_request_gets_503_with_retry_after_at_once() -> None:
    reads = WebReads(concurrency=1, queue=2)
    gate = Gate(reads)

    async def one() -> int:
        async with reads.slot():
            return await gate.query()

    admitted = [asyncio.ensure_future(one()) for _ in range(3)]  # 1 running, 2 waiting
    await settle()
    with pytest.raises(ApiError) as refused:
        await one()
    assert refused.value.status == 503
    assert refused.value.retry_after
    assert reads.rejected == 1
    gate.opened.set()
    assert sorted(await asyncio.gather(*admitted)) == [1, 2, 3]
    async with reads.slot():  # the queue drained: admitted again
        pass


@pytest.mark.asyncio
async def test_identical_reads_share_one_query_while_it_runs_and_within_the_ttl() -> None:
    now = [100.0]
    reads = WebReads(concurrency=1, queue=1, clock=lambda: now[0])
    gate = Gate(reads)
    # 30 identical requests: far more than one slot and queue would admit on their own
    answers = [asyncio.ensure_future(reads.cached("k", 1.0, gate.query)) for _ in range(30)]
    await settle()
    gate.opened.set()
    assert await asyncio.gather(*answers) == [1] * 30
    assert reads.rejected == 0
    now[0] += 0.9
    assert await reads.cached("k", 1.0, gate.query) == 1  # still fresh
    now[0] += 0.2
    assert await reads.cached("k", 1.0, gate.query) == 2  # expired: asked again
    assert await reads.cached("other", 1.0, gate.query) == 3  # another key, its own query


@pytest.mark.asyncio
async def test_an_error_reaches_every_waiting_caller_and_is_not_cached() -> None:
    reads = WebReads(concurrency=1, queue=1)
    started = asyncio.Event()
    failing = True

    async def query() -> str:
        started.set()
        await asyncio.sleep(0)
        if failing:
            raise ValueError("database down")
        return "answer"

    callers = [asyncio.ensure_future(reads.cached("k", 60.0, query)) for _ in range(3)]
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert [str(r) for r in results] == ["database down"] * 3
    failing = False
    assert await reads.cached("k", 60.0, query) == "answer"


@pytest.mark.asyncio
async def test_a_caller_that_leaves_does_not_cancel_the_query_of_the_others() -> None:
    reads = WebReads(concurrency=1, queue=1)
    gate = Gate(reads)
    leaving = asyncio.ensure_future(reads.cached("k", 1.0, gate.query))
    staying = asyncio.ensure_future(reads.cached("k", 1.0, gate.query))
    await settle()
    leaving.cancel()
    await settle()
    gate.opened.set()
    assert await staying == 1
    assert leaving.cancelled()


@pytest.mark.asyncio
async def test_the_cache_holds_at_most_its_number_of_entries() -> None:
    reads = WebReads(concurrency=1, queue=1, cache_entries=2)
    calls: list[str] = []

    def fetcher(key: str) -> Callable[[], Awaitable[str]]:
        async def fetch() -> str:
            calls.append(key)
            return key
        return fetch

    for key in ("a", "b", "c", "c", "b", "a", "b"):
        await reads.cached(key, 60.0, fetcher(key))
    # "c" pushed out "a" (the oldest), "a" then pushed out "b": both asked again
    assert calls == ["a", "b", "c", "a", "b"]


@pytest.mark.asyncio
async def test_expired_answers_are_let_go_not_kept_until_the_size_bound() -> None:
    now = [0.0]
    reads = WebReads(concurrency=1, queue=1, cache_entries=100, clock=lambda: now[0])
    for key in range(50):
        await reads.cached(key, 1.0, lambda key=key: asyncio.sleep(0, result=key))
        now[0] += 0.5  # each answer outlives the next one only
    assert reads.describe()["cached"] <= 2
