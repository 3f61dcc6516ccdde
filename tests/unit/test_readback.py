"""Candle pages: following ``next`` yields every candle of a range once, however the
reads are cut (page size, candles the job has not built yet, the bound on tick reads).

The store here is a stand-in holding Python lists, so the paging logic is checked
over many shapes of data; tests/integration/test_history.py checks the same against
a real worker and database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptoflow import readback
from cryptoflow.exceptions import HistoryTooDense
from cryptoflow.tables.series import INTERVALS, MINUTE, floor_to, minute_candles, rolled_up

NOW = datetime(2026, 11, 24, 13, 0, 30, tzinfo=UTC)  # the open minute is 13:00
FIRST = NOW - timedelta(minutes=55)


class ListStore:
    """The reads ``candle_page`` makes, over lists, with the store's limits."""

    def __init__(self, ticks: list[dict[str, Any]], stored: list[dict[str, Any]]) -> None:
        self.ticks = ticks  # oldest first, as the _id index (the event time) returns them
        self.stored = stored
        # How many documents each read examined: a candle read, every candle of its range
        # whatever its limit (the local database walks the (symbol, start) index so); a
        # tick read, those it returns.
        self.reads: list[int] = []

    async def candles_between(
        self, collection: str, symbol: str, start: datetime, end: datetime, limit: int = 0,
    ) -> list[dict[str, Any]]:
        assert collection == "candles_1m"
        found = [c for c in self.stored if start <= c["start"] < end]
        self.reads.append(len(found))
        return found[:limit] if limit else found

    async def ticks_between(
        self, collection: str, start: datetime, end: datetime, limit: int = 0,
    ) -> list[dict[str, Any]]:
        assert collection == "btc"
        found = [t for t in self.ticks if start <= t["ts"] < end]
        found = found[:limit] if limit else found
        self.reads.append(len(found))
        return found


def follow(store: ListStore, interval: str, start: datetime, end: datetime,
           limit: int) -> list[list[dict[str, Any]]]:
    async def run() -> list[list[dict[str, Any]]]:
        return [page.candles async for page, _ in readback.candle_pages(
            store, "BTCUSDT", INTERVALS[interval], start, end, limit, lambda: NOW)]  # type: ignore[arg-type]  # a fake store with only the reads readback makes

    return asyncio.run(run())


offsets = st.integers(0, 55 * 60)  # seconds after FIRST, up to NOW (in the open minute)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(offsets, st.floats(1, 1e6)), min_size=0, max_size=120,
             unique_by=lambda t: t[0]),
    st.integers(0, 57), st.integers(1, 12), st.sampled_from(["1m", "5m"]),
    st.integers(-10, 60), st.integers(-10, 62), st.integers(0, 30),
)
def test_following_next_yields_every_candle_of_the_range_once(
    prices: list[tuple[int, float]], built_minutes: int, limit: int, interval: str,
    start_minute: int, end_minute: int, extra_ticks: int,
) -> None:
    ticks = [{"price": p, "ts": FIRST + timedelta(seconds=s)} for s, p in sorted(prices)]
    built_until = floor_to(FIRST, MINUTE) + built_minutes * MINUTE  # the job got this far
    size = INTERVALS[interval].size
    every_minute = minute_candles("BTCUSDT", ticks)
    store = ListStore(ticks, [c for c in every_minute if c["start"] < built_until])
    per_slot = max([sum(floor_to(t["ts"], size) == floor_to(u["ts"], size) for u in ticks)
                    for t in ticks], default=0)
    readback.TAIL_TICKS, saved = per_slot + 1 + extra_ticks, readback.TAIL_TICKS
    start = FIRST + timedelta(minutes=start_minute, seconds=17)
    end = FIRST + timedelta(minutes=end_minute)
    try:
        pages = follow(store, interval, start, end, limit)
    finally:
        readback.TAIL_TICKS = saved
    expected = every_minute if interval == "1m" else rolled_up("BTCUSDT", every_minute, size)
    expected = [c for c in expected if start <= c["start"] < end]
    assert [c for page in pages for c in page] == expected
    assert all(len(page) <= limit for page in pages)
    assert max(store.reads, default=0) <= max(limit + 1, (limit + 1) * 5, readback.TAIL_TICKS)


def test_more_ticks_in_one_unbuilt_candle_than_a_read_may_fetch_is_an_error() -> None:
    minute = floor_to(FIRST, MINUTE)
    ticks = [{"price": 1.0 + i, "ts": minute + timedelta(milliseconds=i)} for i in range(5)]
    readback.TAIL_TICKS, saved = 4, readback.TAIL_TICKS
    try:
        with pytest.raises(HistoryTooDense, match="more than 4 ticks in one 1m candle"):
            follow(ListStore(ticks, []), "1m", minute, NOW, 10)
    finally:
        readback.TAIL_TICKS = saved


def test_the_open_minute_comes_last_and_is_not_closed() -> None:
    ticks = [{"price": p, "ts": NOW - timedelta(seconds=s)} for s, p in [(90, 1.0), (10, 2.0)]]

    async def run() -> list[dict[str, Any]]:
        page = await readback.candle_page(
            ListStore(ticks, []), "BTCUSDT", INTERVALS["1m"],  # type: ignore[arg-type]  # a fake store with only the reads readback makes
            NOW - timedelta(minutes=5), NOW, 10, NOW)
        return page.candles

    candles = asyncio.run(run())
    assert [(c["start"], c["end"] <= NOW) for c in candles] == [
        (floor_to(NOW, MINUTE) - MINUTE, True), (floor_to(NOW, MINUTE), False)]


def test_a_page_near_now_reads_no_candle_older_than_the_jobs_reach() -> None:
    """Three days of stored minutes up to two hours ago: a page of the last half hour
    reads neither those days (for the newest candle) nor more than its own slots."""
    days = [{"start": floor_to(NOW, MINUTE) - timedelta(hours=2) - m * MINUTE}
            for m in range(3 * 24 * 60)]
    store = ListStore([], sorted(days, key=lambda c: c["start"]))

    async def run() -> readback.Page:
        return await readback.candle_page(
            store, "BTCUSDT", INTERVALS["1m"], NOW - timedelta(minutes=30), NOW, 10,  # type: ignore[arg-type]  # a fake store with only the reads readback makes
            NOW)

    assert asyncio.run(run()) == readback.Page([], floor_to(NOW, MINUTE) - timedelta(minutes=18))
    assert max(store.reads) == 0


def test_a_range_with_missing_candles_has_short_pages_that_cover_it() -> None:
    """A candle every 10 minutes: each page of 3 reads its 4 slots, so holds one or none."""
    first = floor_to(FIRST, MINUTE)
    every_ten = [{"start": first + m * MINUTE} for m in range(0, 50, 10)]
    pages = follow(ListStore([], every_ten), "1m", first, first + 50 * MINUTE, 3)
    assert [c for page in pages for c in page] == every_ten
    assert len(pages) == -(-50 // 4)
