"""The comparison verify makes: minutes rebuilt from trades against klines by Kline's
rule, stored trades against Binance's listing id by id (invalid ids as served), which
minutes a recording covers whole, and the counts per hour."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import trade_from_fields
from cryptoflow.tables.verification import (
    HOUR_MS,
    MINUTE_FIELDS,
    MINUTE_MS,
    PRESENT,
    TRADE_FIELDS,
    Difference,
    agrees,
    compared_minutes,
    field_equal,
    hours_of,
    listed_fields,
    minute_differences,
    minute_start_ms,
    per_hour,
    result,
    stored_fields,
    trade_differences,
)

T0_MS = 1_796_000_000_000 - 1_796_000_000_000 % HOUR_MS  # an hour's start
NOW = datetime(2027, 1, 1, tzinfo=UTC)
CANDLE = {"open": 100.0, "high": 101.5, "low": 99.25, "close": 100.5, "volume": 3.5,
          "quote_volume": 351.125, "trades": 12, "taker_buy_volume": 1.25,
          "taker_buy_quote_volume": 125.5}


def listed(trade_id: int, price: str = "100.5", qty: str = "0.25", first: int = 10,
           last: int = 12, time_ms: int = T0_MS + 1, maker: bool = False) -> dict[str, Any]:
    return {"a": trade_id, "p": price, "q": qty, "f": first, "l": last, "T": time_ms,
            "m": maker}


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_a_quote_volume_equals_its_eight_place_rounding(exact: float) -> None:
    assert field_equal("quote_volume", exact, round(exact, 8))
    assert field_equal("taker_buy_quote_volume", exact, round(exact, 8))


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False),
       st.floats(min_value=2e-8, max_value=1.0))
def test_a_quote_volume_further_off_than_the_eighth_place_differs(exact: float,
                                                                  off: float) -> None:
    assert not field_equal("quote_volume", exact, exact + off)


@given(st.sampled_from([f for f in MINUTE_FIELDS if "quote" not in f]),
       st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_every_other_field_must_be_equal(name: str, value: float) -> None:
    assert field_equal(name, value, value)
    assert not field_equal(name, value, math.nextafter(value, math.inf))


def test_equal_minutes_have_no_difference_and_a_changed_field_is_named_with_both_values(
) -> None:
    rebuilt = {T0_MS: CANDLE, T0_MS + MINUTE_MS: CANDLE}
    assert minute_differences(rebuilt, dict(rebuilt), rebuilt) == []
    klines = {T0_MS: CANDLE, T0_MS + MINUTE_MS: {**CANDLE, "trades": 13, "volume": 3.75}}
    assert minute_differences(rebuilt, klines, rebuilt) == [
        Difference("minute", T0_MS + MINUTE_MS, "volume", 3.5, 3.75, T0_MS + MINUTE_MS),
        Difference("minute", T0_MS + MINUTE_MS, "trades", 12, 13, T0_MS + MINUTE_MS),
    ]


def test_a_minute_on_one_side_only_differs_unless_nothing_traded_in_it() -> None:
    empty = {**CANDLE, "trades": 0, "volume": 0.0}
    one, two, three = T0_MS, T0_MS + MINUTE_MS, T0_MS + 2 * MINUTE_MS
    found = minute_differences({one: CANDLE}, {two: CANDLE, three: empty}, [one, two, three])
    assert found == [Difference("minute", one, PRESENT, True, False, one),
                     Difference("minute", two, PRESENT, False, True, two)]
    assert [d.describe("klines") for d in found] == [
        f"minute {datetime.fromtimestamp(one / 1000, UTC):%Y-%m-%dT%H:%MZ} missing in klines",
        f"minute {datetime.fromtimestamp(two / 1000, UTC):%Y-%m-%dT%H:%MZ} missing in the "
        "recording"]


def test_minutes_not_asked_for_are_not_compared() -> None:
    assert minute_differences({T0_MS: CANDLE}, {}, [T0_MS + MINUTE_MS]) == []


@given(st.integers(0, 59), st.integers(0, 59), st.integers(0, 59_999), st.integers(0, 59_999),
       st.booleans(), st.booleans())
def test_the_minutes_compared_are_whole_minutes_the_recording_covers(
    first_minute: int, span: int, first_in: int, last_in: int, starts_whole: bool,
    ends_whole: bool,
) -> None:
    start, end = T0_MS, T0_MS + 60 * MINUTE_MS
    first_ms = start + first_minute * MINUTE_MS + first_in
    last_ms = min(first_ms + span * MINUTE_MS + last_in, end - 1)
    minutes = compared_minutes(start, end, first_ms, last_ms, starts_whole, ends_whole)
    assert all(m % MINUTE_MS == 0 and start <= m and m + MINUTE_MS <= end for m in minutes)
    assert (start in minutes) == (starts_whole and not (
        not ends_whole and minute_start_ms(last_ms) == start))
    assert (minute_start_ms(first_ms) in minutes) == (
        starts_whole and (ends_whole or minute_start_ms(first_ms) < minute_start_ms(last_ms)))
    if not ends_whole:
        assert minute_start_ms(last_ms) not in minutes
    if starts_whole and ends_whole:
        assert minutes == range(start, end, MINUTE_MS)
    if not starts_whole and not ends_whole:
        assert minutes == range(minute_start_ms(first_ms) + MINUTE_MS,
                                max(minute_start_ms(first_ms) + MINUTE_MS,
                                    minute_start_ms(last_ms)), MINUTE_MS)


def test_a_stored_trade_and_its_listing_have_the_same_fields() -> None:
    for fields in (listed(7), listed(8, "0.00000000", "0.00000000", -1, -1)):
        trade = trade_from_fields(fields, "BTCUSDT", NOW)
        assert stored_fields(trade.to_document()) == listed_fields(fields)
    assert trade_from_fields(listed(8, "0", "0", -1, -1), "BTCUSDT", NOW).invalid


def test_an_invalid_id_compares_as_binance_serves_it() -> None:
    invalid = listed_fields(listed(8, "0.00000000", "0.00000000", -1, -1))
    stored = stored_fields(trade_from_fields(listed(8, "0", "0", -1, -1), "BTCUSDT",
                                             NOW).to_document())
    assert trade_differences({8: stored}, {8: invalid}, [8]) == []
    valid = listed_fields(listed(8))
    assert [d.field for d in trade_differences({8: valid}, {8: invalid}, [8])] == [
        "price", "qty", "first_trade_id", "last_trade_id"]


trade_fields = st.fixed_dictionaries({
    "price": st.floats(1e-8, 1e6), "qty": st.floats(0, 1e6),
    "first_trade_id": st.integers(-1, 10**9), "last_trade_id": st.integers(-1, 10**9),
    "time_ms": st.integers(T0_MS, T0_MS + 3 * HOUR_MS), "is_buyer_maker": st.booleans(),
})


@given(st.dictionaries(st.integers(0, 200), trade_fields, min_size=1),
       st.sets(st.integers(0, 200)), st.dictionaries(st.integers(0, 200),
                                                     st.sampled_from(TRADE_FIELDS)))
def test_trade_differences_are_exactly_the_changed_fields_and_the_missing_ids(
    recorded: dict[int, dict[str, Any]], dropped: set[int], changed: dict[int, str],
) -> None:
    source = {i: dict(t) for i, t in recorded.items() if i not in dropped}
    for trade_id, name in changed.items():
        if trade_id in source:
            value = source[trade_id][name]
            source[trade_id][name] = (not value if isinstance(value, bool) else value + 1)
    found = trade_differences(recorded, source, range(201))
    expected_missing = {i for i in recorded if i in dropped}
    assert {d.key for d in found if d.field == PRESENT} == expected_missing
    assert all(d.recorded is True and d.source is False for d in found if d.field == PRESENT)
    assert {(d.key, d.field) for d in found if d.field != PRESENT} == {
        (i, name) for i, name in changed.items() if i in source}
    assert all(agrees(recorded[i], source.get(i)) == (i not in {d.key for d in found})
               for i in recorded)
    assert per_hour(found, hours_of([(T0_MS, T0_MS + 4 * HOUR_MS)])).keys() == {
        T0_MS + n * HOUR_MS for n in range(4)}
    assert sum(per_hour(found, hours_of([(T0_MS, T0_MS + 4 * HOUR_MS)])).values()) == len(found)


def test_a_trade_difference_names_the_id_the_field_and_both_values() -> None:
    (found,) = trade_differences({5: listed_fields(listed(5))},
                                 {5: listed_fields(listed(5, qty="0.5"))}, [5])
    assert found.describe("the archive") == "id 5 qty: recorded 0.25, the archive 0.5"
    (missing,) = trade_differences({5: listed_fields(listed(5))}, {}, [5])
    assert missing.describe("the archive") == "id 5 missing in the archive"


@given(st.lists(st.tuples(st.integers(0, 10 * HOUR_MS), st.integers(0, 10 * HOUR_MS))))
def test_hours_of_spans_are_the_hours_they_touch(spans: list[tuple[int, int]]) -> None:
    hours = hours_of([(T0_MS + a, T0_MS + b) for a, b in spans])
    touched = {T0_MS + h * HOUR_MS for a, b in spans if a < b
               for h in range(a // HOUR_MS, (b - 1) // HOUR_MS + 1)}
    assert hours == sorted(touched)


def test_per_hour_counts_each_difference_in_its_hour_and_zero_elsewhere() -> None:
    found = [Difference("trade", 1, "qty", 1.0, 2.0, T0_MS + 5),
             Difference("trade", 2, "qty", 1.0, 2.0, T0_MS + HOUR_MS - 1),
             Difference("minute", T0_MS + HOUR_MS, "trades", 1, 2, T0_MS + HOUR_MS)]
    assert per_hour(found, [T0_MS, T0_MS + HOUR_MS, T0_MS + 2 * HOUR_MS]) == {
        T0_MS: 2, T0_MS + HOUR_MS: 1, T0_MS + 2 * HOUR_MS: 0}
    assert [result(0), result(3)] == ["equal", "differs"]
