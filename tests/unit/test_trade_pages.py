"""Trade pages: each reads at most ``limit`` trades by key and at most a day of candles,
and following the cursors yields every stored trade of a range once, in id order,
across gaps of ids and of time of any size.

The store here is a stand-in holding Python lists; tests/integration/test_history.py
checks the same against the real local database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cryptoflow import readback
from cryptoflow.readback import TradeCursor, TradePage
from cryptoflow.records import trade_key
from cryptoflow.tables.series import MINUTE, floor_to

T0 = datetime(2026, 11, 24, 12, tzinfo=UTC)


class TradeStore:
    """The two reads ``trade_page`` makes, over lists, noting what each asked for."""

    def __init__(self, trades: list[dict[str, Any]], tick_minutes: list[datetime]) -> None:
        self.trades = {doc["_id"]: doc for doc in trades}
        minutes: dict[datetime, list[dict[str, Any]]] = {}
        for doc in trades:
            minutes.setdefault(floor_to(doc["ts"], MINUTE), []).append(doc)
        self.candles = sorted(
            [{"start": start, "source": "trades", "first_trade_id": docs[0]["trade_id"],
              "last_trade_id": docs[-1]["trade_id"]} for start, docs in minutes.items()]
            + [{"start": start} for start in tick_minutes if start not in minutes],
            key=lambda candle: candle["start"])
        self.keys_asked: list[int] = []  # keys per by_ids call
        self.spans_read: list[timedelta] = []  # the span of each candle read

    async def by_ids(self, collection: str, keys: list[str]) -> list[dict[str, Any]]:
        assert collection == "trades"
        self.keys_asked.append(len(keys))
        return [self.trades[key] for key in keys if key in self.trades]

    async def candles_between(
        self, collection: str, symbol: str, start: datetime, end: datetime,
    ) -> list[dict[str, Any]]:
        assert (collection, symbol) == ("candles_1m", "BTCUSDT")
        self.spans_read.append(end - start)
        return [candle for candle in self.candles if start <= candle["start"] < end]


def stored(ids: list[int], times: list[datetime]) -> list[dict[str, Any]]:
    return [{"_id": trade_key("BTCUSDT", trade_id), "trade_id": trade_id, "ts": ts}
            for trade_id, ts in zip(ids, times, strict=True)]


def page(store: TradeStore, start: datetime, end: datetime, from_id: int | None,
         limit: int) -> TradePage:
    return asyncio.run(readback.trade_page(
        store, "BTCUSDT", start, end, from_id, limit))  # type: ignore[arg-type]  # a fake store with only the reads readback makes


def follow(store: TradeStore, start: datetime, end: datetime, limit: int,
           ) -> list[TradePage]:
    pages, cursor = [], TradeCursor(None, start)
    while cursor is not None:
        pages.append(page(store, cursor.start, end, cursor.from_id, limit))
        previous, cursor = cursor, pages[-1].next
        assert cursor is None or start <= previous.start <= cursor.start < end
        assert len(pages) < 1000, "next never became null"
    return pages


# The step from one trade to the next: ids (mostly 1, sometimes a gap larger than any
# page) and time (the same millisecond, seconds, or more than a day).
id_steps = st.one_of(st.just(1), st.just(1), st.integers(2, 60))
time_steps = st.sampled_from([0, 0, 250, 20_000, 70_000, 3_600_000, 30 * 3_600_000])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(id_steps, time_steps), max_size=80), st.integers(0, 10**6),
    st.integers(1, 12), st.integers(-120, 60 * 60 * 40), st.integers(1, 60 * 60 * 50),
    st.lists(st.integers(0, 60 * 50), max_size=30),
)
def test_following_next_yields_every_stored_trade_of_the_range_once(
    steps: list[tuple[int, int]], first_id: int, limit: int, start_s: int, span_s: int,
    tick_minutes: list[int],
) -> None:
    ids = list(accumulate((step for step, _ in steps), initial=first_id))
    times = list(accumulate((timedelta(milliseconds=ms) for _, ms in steps), initial=T0))
    store = TradeStore(stored(ids, times), [T0 + m * MINUTE for m in tick_minutes])
    start = T0 + timedelta(seconds=start_s)
    end = start + timedelta(seconds=span_s)

    pages = follow(store, start, end, limit)

    expected = [trade_id for trade_id, ts in zip(ids, times, strict=True) if start <= ts < end]
    assert [doc["trade_id"] for p in pages for doc in p.trades] == expected
    assert all(len(p.trades) <= limit for p in pages)
    assert max(store.keys_asked, default=0) <= limit
    assert max(store.spans_read, default=timedelta(0)) <= readback.RESUME_SPAN + MINUTE


def test_a_range_before_the_trades_from_an_id_reads_one_window_and_ends() -> None:
    """The query that once walked every stored trade: nothing of the range from there."""
    store = TradeStore(stored(list(range(100, 5000)), [T0] * 4900), [])
    before = T0 - timedelta(days=3)
    assert page(store, before, before + timedelta(days=1), 1000, 50) == TradePage([], None)
    assert (store.keys_asked, store.spans_read) == ([50], [])


def test_a_gap_wider_than_a_page_is_crossed_in_one_step() -> None:
    times = [T0 + timedelta(seconds=s) for s in (1, 2, 3, 70, 71)]
    store = TradeStore(stored([10, 11, 12, 5000, 5001], times), [])
    first = page(store, T0, T0 + timedelta(hours=1), None, 5)
    assert [doc["trade_id"] for doc in first.trades] == [10, 11, 12]
    assert first.next == TradeCursor(5000, T0 + MINUTE)  # the next minute's first trade
    second = page(store, first.next.start, T0 + timedelta(hours=1), 5000, 5)
    assert [doc["trade_id"] for doc in second.trades] == [5000, 5001]
    assert second.next is None  # no trade candle after this one


def test_a_full_page_continues_after_its_window_without_reading_candles() -> None:
    times = [T0 + timedelta(seconds=s) for s in range(6)]
    store = TradeStore(stored(list(range(6)), times), [])
    assert page(store, T0, T0 + MINUTE, 0, 3) == TradePage(
        stored([0, 1, 2], times[:3]), TradeCursor(3, times[2]))
    assert store.spans_read == []


def test_a_trade_at_the_end_of_the_range_makes_the_last_page() -> None:
    times = [T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]
    store = TradeStore(stored([7, 8, 9], times), [])
    assert page(store, T0, times[1], 7, 3).next is None


def test_a_day_without_trade_candles_is_a_page_without_trades_that_moves_on() -> None:
    later = T0 + timedelta(days=3)
    store = TradeStore(stored([1, 2], [later, later]), [T0 + m * MINUTE for m in range(90)])
    first = page(store, T0, later + MINUTE, None, 10)
    assert first == TradePage([], TradeCursor(None, T0 + readback.RESUME_SPAN))
    assert store.spans_read == [readback.RESUME_SPAN]


def test_a_window_wholly_before_the_range_jumps_to_the_range_s_first_trade() -> None:
    hour = timedelta(hours=1)
    store = TradeStore(stored(list(range(2000)), [T0] * 1000 + [T0 + hour] * 1000), [])
    assert page(store, T0 + hour, T0 + 2 * hour, 0, 10) == TradePage(
        [], TradeCursor(1000, T0 + hour))


def test_from_an_id_in_a_gap_no_page_holds_an_earlier_trade() -> None:
    """Trades 1-3 on day 2, 100-101 on day 4; asked from id 50 with the range from day 0:
    the search walks a day at a time and keeps the id."""
    days = [T0 + timedelta(days=d) for d in (2, 2, 2, 4, 4)]
    store = TradeStore(stored([1, 2, 3, 100, 101], days), [])
    pages, cursor = [], TradeCursor(50, T0)
    while cursor is not None:
        pages.append(page(store, cursor.start, T0 + timedelta(days=5), cursor.from_id, 10))
        cursor = pages[-1].next
    assert [doc["trade_id"] for p in pages for doc in p.trades] == [100, 101]


@given(count=st.integers(0, 60), limit=st.integers(1, 20), lagging=st.integers(0, 5))
def test_the_newest_page_is_the_newest_limit_trades_oldest_first(
    count: int, limit: int, lagging: int,
) -> None:
    """Without a range, the newest ``limit`` stored trades, as Binance's aggTrades; the
    newest candle may not count the last few trades yet (it is written a second late)."""
    ids = list(range(1000, 1000 + count))
    store = TradeStore(stored(ids, [T0 + timedelta(seconds=3 * i) for i in range(count)]), [])
    if lagging and store.candles:
        last = store.candles[-1]
        last["last_trade_id"] = max(last["first_trade_id"], last["last_trade_id"] - lagging)
    now = T0 + timedelta(seconds=3 * count)
    newest = asyncio.run(readback.newest_trades(store, "BTCUSDT", limit, now))  # type: ignore[arg-type]  # a fake store with only the reads readback makes
    assert [doc["trade_id"] for doc in newest] == ids[-limit:]
    assert sum(store.keys_asked) <= limit + max(limit, readback.NEWEST_AHEAD)
