"""The coverage ledger's arithmetic: id ranges behave as the sets of ids they stand for,
an hour counted batch by batch (through the changelog's JSON) equals the hour counted at
once, and a summary counts each id once, for the first of live, imported, backfilled
that holds it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import Trade
from cryptoflow.tables.coverage import (
    HOUR_MS,
    HourSummary,
    LedgerHour,
    Ranges,
    add_ids,
    fold_ledger,
    holes,
    ledger_id,
    minus,
    size,
    summarise,
    union,
)

ids = st.sets(st.integers(0, 200), max_size=60)
T0 = datetime(2026, 12, 7, 8, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def as_set(ranges: Ranges) -> set[int]:
    return {i for first, last in ranges for i in range(first, last + 1)}


def well_formed(ranges: Ranges) -> bool:
    return all(first <= last for first, last in ranges) and all(
        a[1] + 1 < b[0] for a, b in itertools.pairwise(ranges))


@given(ids, ids)
def test_ranges_are_the_sets_they_stand_for(left: set[int], right: set[int]) -> None:
    a, b = add_ids([], left), add_ids([], right)
    assert well_formed(a) and as_set(a) == left and size(a) == len(left)
    assert well_formed(union(a, b)) and as_set(union(a, b)) == left | right
    assert well_formed(minus(a, b)) and as_set(minus(a, b)) == left - right
    assert as_set(add_ids(a, right)) == left | right
    assert add_ids(add_ids(a, right), right) == add_ids(a, right)  # again: no change
    whole = union(a, b)
    if whole:
        inside = set(range(whole[0][0], whole[-1][1] + 1))
        assert {i for first, last in holes(whole) for i in range(first, last + 1)} == (
            inside - (left | right))


def trade(trade_id: int, time_ms: int, *, filled: bool = False, invalid: bool = False) -> Trade:
    return Trade("BTCUSDT", trade_id, 0.0 if invalid else 1.0, 0.0 if invalid else 1.0,
                 -1 if invalid else trade_id, -1 if invalid else trade_id, time_ms,
                 is_buyer_maker=False, invalid=invalid, filled=filled)


@st.composite
def trade_runs(draw: st.DrawFn) -> list[Trade]:
    """Trades in id order with gaps, over a few hours, some filled, some invalid."""
    trades, trade_id, time_ms = [], draw(st.integers(0, 50)), T0_MS
    for _ in range(draw(st.integers(1, 80))):
        trade_id += draw(st.sampled_from([1, 1, 1, 2, 5]))
        time_ms += draw(st.sampled_from([0, 1000, 600_000, HOUR_MS]))
        trades.append(trade(trade_id, time_ms, filled=draw(st.booleans()),
                            invalid=draw(st.integers(0, 9)) == 0))
    return trades


@given(trade_runs(), st.data())
def test_an_hour_counted_batch_by_batch_equals_it_counted_at_once(
    trades: list[Trade], data: st.DataObject,
) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, len(trades)), max_size=5)))
    hour: LedgerHour | None = None
    closed: list[LedgerHour] = []
    for start, end in zip([0, *cuts], [*cuts, len(trades)], strict=True):
        hour, more = fold_ledger(hour, trades[start:end])
        closed += more
        hour = LedgerHour.loads(hour.dumps()) if hour is not None else None  # the changelog
    assert hour is not None
    hours = [*closed, hour]
    assert [h.start_ms for h in hours] == sorted({t.time_ms - t.time_ms % HOUR_MS
                                                  for t in trades})
    for h in hours:
        own = [t for t in trades if h.start_ms <= t.time_ms < h.start_ms + HOUR_MS]
        assert as_set(h.ids) == {t.trade_id for t in own}
        assert as_set(h.filled) == {t.trade_id for t in own if t.filled}
        assert as_set(h.invalid) == {t.trade_id for t in own if t.invalid}
        assert h.first_ms == own[0].time_ms  # the hour's first trade


def test_a_summary_counts_each_id_once_for_the_first_path_in_order_that_holds_it() -> None:
    document = {
        "live": {"ids": [[100, 149], [160, 199]], "filled": [[120, 129]], "invalid": [[130, 130]],
                 "first_ms": T0_MS + 900},
        # the archive has 90..160: 90..99 and 150..159 are new, the rest was recorded live
        "imported": {"ids": [[90, 160]], "filled": [], "invalid": [[130, 130], [95, 95]]},
        "backfilled": {"ids": [[80, 95]], "filled": [], "invalid": [], "first_ms": T0_MS + 7},
        "verified": {"result": "equal"},
    }
    summary = HourSummary.of(T0, document)
    assert (summary.first_id, summary.last_id, summary.stored) == (80, 199, 120)
    assert (summary.streamed, summary.filled) == (80, 10)
    assert (summary.imported, summary.backfilled) == (20, 10)
    assert summary.invalid == 2 and summary.holes == [] and summary.missing == 0
    assert summary.verified == {"result": "equal"}
    assert summary.first_ms == T0_MS + 7  # the earliest part's first trade


def test_holes_within_and_between_hours_are_missing_ids() -> None:
    first = {"live": {"ids": [[1, 10], [15, 20]], "filled": [], "invalid": []}}
    empty: dict[str, object] = {}
    second = {"live": {"ids": [[26, 30]], "filled": [], "invalid": []}}
    hours = summarise([(T0, first), (T0.replace(hour=9), empty),
                       (T0.replace(hour=10), second)])
    assert [h.holes for h in hours] == [[(11, 14)], [], [(21, 25)]]
    assert [h.missing for h in hours] == [4, 0, 5]
    assert hours[1].stored == 0 and hours[1].first_id is None


def test_the_live_part_names_its_hour() -> None:
    hour, _ = fold_ledger(None, [trade(7, T0_MS + 5)])
    assert hour is not None
    document = hour.document("BTCUSDT")
    assert document["_id"] == ledger_id("BTCUSDT", T0) == "BTCUSDT:2026-12-07T08"
    assert document["hour"] == T0
    assert document["live"] == {"ids": [[7, 7]], "filled": [], "invalid": [],
                                "first_ms": T0_MS + 5}
