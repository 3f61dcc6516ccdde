"""Streamed market data: what a Trade and a BookTicker accept, and why they refuse."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import bson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.exceptions import InvalidRecord
from cryptoflow.records import (
    BookTicker,
    agg_trade_wire,
    load_json,
    parse_book,
    parse_trade,
    trade_key,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
T = int(NOW.timestamp() * 1000) - 5_000
SYMBOLS = {"BTCUSDT"}
FIELDS: dict[str, Any] = {"a": 12345, "p": "67234.50", "q": "0.012", "f": 100, "l": 105,
                          "T": T, "m": True, "M": True, "e": "aggTrade", "E": T + 3}


def wire(**changes: Any) -> bytes:
    fields = {**FIELDS, **changes}
    return json.dumps({"s": "BTCUSDT", **{k: v for k, v in fields.items() if v is not None}}
                      ).encode()


def test_the_topic_carries_binance_fields_as_they_came() -> None:
    value = agg_trade_wire(FIELDS, "BTCUSDT")
    assert json.loads(value) == {"s": "BTCUSDT", "a": 12345, "p": "67234.50", "q": "0.012",
                                 "f": 100, "l": 105, "T": T, "m": True}
    trade = parse_trade(value, SYMBOLS, NOW)
    assert (trade.trade_id, trade.price, trade.qty, trade.raw_trades) == (12345, 67234.5, 0.012, 6)
    assert trade.ts == datetime.fromtimestamp(T / 1000, tz=UTC)
    document = trade.to_document()
    assert document["_id"] == trade_key("BTCUSDT", 12345) == "BTCUSDT:00000000000000012345"
    assert document["is_buyer_maker"] is True


@given(st.integers(0, 10**18), st.integers(0, 10**18))
def test_trade_keys_sort_like_their_ids(first: int, second: int) -> None:
    assert (trade_key("X", first) < trade_key("X", second)) == (first < second)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"a": -1}, "'a'"), ({"a": "12"}, "'a'"), ({"a": True}, "'a'"), ({"a": None}, "'a'"),
    ({"p": "0"}, "price"), ({"p": "1e300"}, "price"), ({"p": "abc"}, "price"),
    ({"q": "0"}, "'q'"), ({"q": "-1"}, "'q'"), ({"q": "1e13"}, "'q'"), ({"q": "nan"}, "'q'"),
    ({"f": 10, "l": 9}, "last trade id"), ({"m": "yes"}, "'m'"),
    ({"T": 10**15}, "ts"), ({"T": 1}, "ts"),
])
def test_a_bad_trade_is_refused_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidRecord) as refused:
        parse_trade(wire(**changes), SYMBOLS, NOW)
    assert reason in refused.value.reason


@pytest.mark.parametrize(("value", "reason"), [
    (None, "empty"), (b"x" * 2000, "too large"), (b"not json", "not JSON"), (b"[1]", "object"),
    (b'{"s": "ETHUSDT"}', "unknown symbol"), (b'{"s": 5}', "symbol"),
])
def test_a_message_that_is_no_trade_is_refused(value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidRecord) as refused:
        parse_trade(value, SYMBOLS, NOW)
    assert reason in refused.value.reason


def book(**changes: Any) -> BookTicker:
    fields = {"symbol": "BTCUSDT", "update_id": 7, "bid": 100.0, "bid_qty": 1.0, "ask": 100.5,
              "ask_qty": 2.0, "received_ms": T, "updates": 3, "spread_bps_sum": 1.5,
              "spread_bps_max": 0.6, **changes}
    return BookTicker(**fields)


def test_a_conflated_book_ticker_round_trips() -> None:
    assert parse_book(book().to_wire(), SYMBOLS, NOW) == book()
    assert book().spread_bps == pytest.approx(0.5 / 100.25 * 10_000)


@pytest.mark.parametrize("changes", [
    {"bid": 101.0}, {"bid": 100.5}, {"updates": 0}, {"spread_bps_max": 20_001.0},
    {"spread_bps_sum": 3 * 20_000 + 1.0}, {"spread_bps_sum": float("inf")},
    {"ask": 1e300}, {"bid_qty": -1.0},
])
def test_a_bad_book_ticker_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecord):
        parse_book(book(**changes).to_wire(), SYMBOLS, NOW)


@pytest.mark.parametrize("field", ["a", "f", "l", "T"])
@pytest.mark.parametrize("value", [2**63, 10**30])
def test_integers_beyond_what_mongodb_holds_are_refused(field: str, value: int) -> None:
    changes: dict[str, Any] = {field: value}
    if field == "f":
        changes["l"] = value  # a range that ends before it starts is refused anyway
    with pytest.raises(InvalidRecord, match=f"'{field}' must be a whole number from 0 to"):
        parse_trade(wire(**changes), SYMBOLS, NOW)


def test_the_largest_64_bit_ids_are_taken() -> None:
    top = 2**63 - 1
    trade = parse_trade(wire(a=top, f=top, l=top), SYMBOLS, NOW)
    assert bson.encode(trade.to_document())  # MongoDB holds it


@pytest.mark.parametrize("value", [
    b"[" * 1000, b"[" * 100_000 + b"]" * 100_000, b'{"s": ' * 900, b"1" * 5000,
], ids=["open", "closed", "objects", "long-integer"])
def test_values_nested_too_deeply_or_too_long_to_read_are_refused(value: bytes) -> None:
    """Python's JSON decoder recurses per level of nesting: a thousand levels raise
    RecursionError, which must not reach the agent or the stream reader."""
    for parse in (parse_trade, parse_book):
        with pytest.raises(InvalidRecord, match=r"not JSON|too large"):
            parse(value, SYMBOLS, NOW)
    with pytest.raises(InvalidRecord, match="not JSON"):
        load_json(value)


@pytest.mark.parametrize("zero", ["0", "0.00000000", 0, 0.0])
def test_an_aggregate_trade_binance_marks_invalid_is_kept_flagged(zero: object) -> None:
    trade = parse_trade(wire(p=zero, q=zero, f=-1, l=-1), SYMBOLS, NOW)
    assert trade.invalid and (trade.price, trade.qty, trade.raw_trades) == (0.0, 0.0, 0)
    document = trade.to_document()
    assert document["invalid"] is True
    assert (document["first_trade_id"], document["last_trade_id"]) == (-1, -1)
    assert "invalid" not in parse_trade(wire(), SYMBOLS, NOW).to_document()


@pytest.mark.parametrize(("changes", "reason"), [
    ({"p": "67000.5", "q": "0", "f": -1, "l": -1}, "has 'p' '67000.5', not 0"),
    ({"p": "0", "q": "1e999999", "f": -1, "l": -1}, "has 'q'"),
    ({"p": "0", "q": "0", "f": -1, "l": 5}, "'p' (price)"),
    ({"p": "0", "q": "0", "f": 5, "l": 5}, "'p' (price)"),
    ({"p": "0", "q": "0", "f": -1, "l": -1, "m": "yes"}, "'m' (buyer is maker)"),
])
def test_only_binances_exact_invalid_marker_is_taken(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        parse_trade(wire(**changes), SYMBOLS, NOW)
    assert reason in caught.value.reason
