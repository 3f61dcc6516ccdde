"""When the trades agent writes candles: closed ones at once, a forming one at most once
per interval per symbol, and none left unwritten once its time has come."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.tables.trade_candles import FormingCandleWrites

INTERVAL = 1.0


def doc(symbol: str, minute: int, n: int) -> dict[str, Any]:
    return {"_id": f"{symbol}/{minute}", "symbol": symbol, "trades": n}


def test_the_first_forming_candle_goes_at_once_and_the_next_waits_for_the_interval() -> None:
    writes = FormingCandleWrites(INTERVAL)
    assert writes.after_batch("A", [], doc("A", 0, 1), now=10.0) == [doc("A", 0, 1)]
    assert writes.after_batch("A", [], doc("A", 0, 2), now=10.4) == []
    assert writes.due(10.9) == []
    assert writes.after_batch("A", [], doc("A", 0, 3), now=10.95) == []
    assert writes.due(11.0) == [doc("A", 0, 3)]  # the newest one, once
    assert writes.due(12.5) == []


def test_a_closed_candle_and_the_minute_it_opens_go_at_once() -> None:
    writes = FormingCandleWrites(INTERVAL)
    writes.after_batch("A", [], doc("A", 0, 1), now=10.0)
    writes.after_batch("A", [], doc("A", 0, 2), now=10.2)
    assert writes.after_batch("A", [doc("A", 0, 3)], doc("A", 1, 1), now=10.3) == [
        doc("A", 0, 3), doc("A", 1, 1)]
    assert writes.due(20.0) == []  # the waiting one of minute 0 was superseded


def test_symbols_wait_apart() -> None:
    writes = FormingCandleWrites(INTERVAL)
    writes.after_batch("A", [], doc("A", 0, 1), now=10.0)
    assert writes.after_batch("B", [], doc("B", 0, 1), now=10.5) == [doc("B", 0, 1)]
    writes.after_batch("A", [], doc("A", 0, 2), now=10.6)
    writes.after_batch("B", [], doc("B", 0, 2), now=10.7)
    assert writes.due(11.0) == [doc("A", 0, 2)]
    assert writes.due(11.5) == [doc("B", 0, 2)]


def test_zero_interval_writes_every_forming_candle() -> None:
    writes = FormingCandleWrites(0.0)
    for n in range(3):
        assert writes.after_batch("A", [], doc("A", 0, n), now=10.0) == [doc("A", 0, n)]
    assert writes.due(10.0) == []


def test_a_symbol_let_go_is_forgotten_and_known_again_only_once_written() -> None:
    writes = FormingCandleWrites(INTERVAL)
    writes.after_batch("A", [], doc("A", 0, 1), now=10.0)
    writes.after_batch("A", [], doc("A", 0, 2), now=10.2)
    writes.after_batch("B", [], doc("B", 0, 1), now=10.2)
    assert writes.known("A")
    writes.keep_only({"B"})
    assert not writes.known("A")
    assert writes.due(20.0) == []  # A's waiting document went with it
    assert writes.after_batch("A", [], doc("A", 0, 3), now=20.1) == [doc("A", 0, 3)]
    assert writes.known("A") and writes.known("B")


batches = st.lists(st.tuples(
    st.sampled_from("AB"),  # symbol
    st.floats(0.0, 0.7),  # time since the step before
    st.booleans(),  # the batch closes the minute
    st.booleans(),  # a due() call follows (the agent's next batch or the timer)
), max_size=60)


@given(batches)
def test_at_most_one_forming_write_per_interval_and_the_newest_is_always_written_at_last(
    steps: list[tuple[str, float, bool, bool]],
) -> None:
    writes = FormingCandleWrites(INTERVAL)
    now, minute = 0.0, dict.fromkeys("AB", 0)
    newest: dict[str, dict[str, Any]] = {}
    stored: dict[str, dict[str, Any]] = {}  # what candles_1m would hold, by _id
    forming_writes: dict[str, list[float]] = {"A": [], "B": []}

    def land(documents: list[dict[str, Any]], at: float, after_close: bool) -> None:
        for document in documents:
            stored[document["_id"]] = document
            is_forming = document is newest.get(document["symbol"])
            if is_forming and not after_close:
                forming_writes[document["symbol"]].append(at)

    for n, (symbol, wait, closes, flush) in enumerate(steps):
        now += wait
        closed = []
        if closes:
            closed = [{**newest[symbol], "final": True}] if symbol in newest else []
            minute[symbol] += 1
        newest[symbol] = doc(symbol, minute[symbol], n)
        land(writes.after_batch(symbol, closed, newest[symbol], now), now, bool(closed))
        if flush:
            land(writes.due(now), now, False)
    for times in forming_writes.values():
        assert all(b - a >= INTERVAL for a, b in pairwise(times))
    later = now + 1.5 * INTERVAL  # past the interval (at exactly it, float sums may not be)
    land(writes.due(later), later, False)
    for document in newest.values():
        assert stored[document["_id"]] == document
