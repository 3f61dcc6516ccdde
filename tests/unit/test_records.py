"""parse_tick: the gate every tick passes, and the wire and document shapes."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import bson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.exceptions import InvalidRecord, InvalidTick
from cryptoflow.records import (
    MAX_PRICE,
    MAX_STORED_TICKS_BYTES,
    MAX_TICK_BYTES,
    MIN_PRICE,
    STORED_TICKS_RECORD_BYTES,
    PriceTick,
    format_ts,
    parse_price,
    parse_stored_ticks,
    parse_tick,
    stored_ticks_records,
)

SYMBOLS = {"BTCUSDT", "ETHUSDT"}
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def wire(**fields: object) -> bytes:
    tick = {"symbol": "BTCUSDT", "price": 67234.5, "ts": "2026-11-24T11:59:59.123Z"}
    tick.update(fields)
    return json.dumps({k: v for k, v in tick.items() if v is not ...}).encode()


def test_a_documented_tick_is_parsed() -> None:
    tick = parse_tick(wire(), SYMBOLS, NOW)
    assert tick.symbol == "BTCUSDT"
    assert tick.price == 67234.5
    assert tick.ts == datetime(2026, 11, 24, 11, 59, 59, 123000, tzinfo=UTC)
    assert tick.source == "external"


def test_epoch_milliseconds_and_string_prices_are_accepted() -> None:
    tick = parse_tick(wire(ts=1_795_000_000_123, price="3.14000000"), SYMBOLS, NOW)
    assert tick.ts == datetime.fromtimestamp(1_795_000_000.123, tz=UTC).replace(microsecond=123000)
    assert tick.price == 3.14


def test_other_timezones_become_utc_with_milliseconds() -> None:
    tick = parse_tick(wire(ts="2026-11-24T13:00:00.123456+01:00"), SYMBOLS, NOW)
    assert tick.ts == datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC)
    assert format_ts(tick.ts) == "2026-11-24T12:00:00.123Z"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message"),
        (b"\xff\xfe garbage", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"BTCUSDT"', "expected a JSON object, got str"),
        (wire(price=...), "missing field 'price'"),
        (wire(ts=...), "missing field 'ts'"),
        (wire(symbol=...), "missing field 'symbol'"),
        (wire(symbol=42), "symbol must be a string"),
        (wire(symbol="DOGEUSDT"), "unknown symbol 'DOGEUSDT'"),
        (wire(price=0), "price must be > 0"),
        (wire(price=-1.5), "price must be > 0"),
        (wire(price="NaN"), "price is not finite"),
        (b'{"symbol":"BTCUSDT","price":NaN,"ts":"2026-11-24T11:59:59Z"}', "not finite"),
        (b'{"symbol":"BTCUSDT","price":Infinity,"ts":"2026-11-24T11:59:59Z"}', "not finite"),
        (wire(price="1e999"), "not finite"),
        (wire(price=1.7e308), "price out of range (1e-08 to 1e+11): 1.7e+308"),
        (wire(price=1e-300), "price out of range (1e-08 to 1e+11): 1e-300"),
        (wire(price="0.000000009"), "price out of range"),
        (wire(price=1.00000001e11), "price out of range"),
        (wire(price="cheap"), "price is not a number"),
        (wire(price=True), "price must be a number, got bool"),
        (wire(price=[1]), "price must be a number, got list"),
        (wire(ts="yesterday"), "ts is not ISO-8601"),
        (wire(ts="2026-11-24T11:59:59"), "ts has no timezone"),
        (wire(ts=1_795_000_000), "ts out of range"),  # seconds sent as milliseconds
        (wire(ts="9999-12-31T23:59:59Z"), "ts out of range"),
        (wire(ts=1e300), "ts out of range"),
        (wire(ts={"at": 1}), "ts must be an ISO-8601 string or epoch milliseconds"),
        (wire(source=1), "source must be a string"),
        (wire(symbol="x" * 1_000_000), "message too large"),
        (b"[" * 1000, "not JSON we read: nested too deeply"),
        (b'[{"":' * 700, "not JSON we read: nested too deeply"),
    ],
)
def test_invalid_values_are_refused_with_a_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidTick) as caught:
        parse_tick(value, SYMBOLS, NOW)
    assert reason in caught.value.reason


@given(
    price=st.floats(min_value=MIN_PRICE, max_value=MAX_PRICE),
    millis=st.integers(min_value=1_483_228_800_000, max_value=1_795_000_000_000),
)
def test_the_wire_format_round_trips(price: float, millis: int) -> None:
    ts = datetime.fromtimestamp(millis / 1000, tz=UTC).replace(microsecond=millis % 1000 * 1000)
    tick = PriceTick(symbol="ETHUSDT", price=price, ts=ts)
    again = parse_tick(tick.to_wire(), SYMBOLS, NOW)
    assert again.price == price
    assert again.ts == ts
    assert again.source == "binance-rest"
    assert again.to_document() == {"_id": ts, "symbol": "ETHUSDT", "price": price, "ts": ts}
    assert math.isfinite(again.price)


@given(millis=st.integers(min_value=1_483_228_800_000, max_value=1_795_000_000_000),
       micros=st.integers(min_value=0, max_value=999))
def test_a_ticks_key_is_its_millisecond_and_survives_bson(millis: int, micros: int) -> None:
    """MongoDB stores dates in milliseconds: the key read back equals the tick's ``ts``,
    and two ticks of one millisecond (sub-millisecond digits apart) share it."""
    ts = datetime.fromtimestamp(millis // 1000, tz=UTC).replace(
        microsecond=millis % 1000 * 1000)
    wire = {"symbol": "ETHUSDT", "price": 1.5, "ts": (ts + timedelta(microseconds=micros))
            .isoformat()}
    tick = parse_tick(json.dumps(wire).encode(), SYMBOLS, NOW)
    stored = bson.decode(bson.encode(tick.to_document()),
                         codec_options=bson.CodecOptions(tz_aware=True))
    assert stored["_id"] == stored["ts"] == tick.ts == ts


def test_the_faust_serialisation_keeps_a_datetime() -> None:
    tick = PriceTick(symbol="BTCUSDT", price=1.5, ts=NOW)
    assert PriceTick.loads(tick.dumps()).ts == NOW


def test_the_price_bounds_are_inclusive() -> None:
    assert parse_price(MIN_PRICE) == MIN_PRICE
    assert parse_price("100000000000.00000000") == MAX_PRICE


@given(st.floats(allow_nan=False) | st.floats(min_value=0, max_value=1e-7)
       | st.floats(min_value=1e10, max_value=1e12))
def test_a_price_is_accepted_exactly_within_the_bounds(price: float) -> None:
    try:
        parse_price(price)
    except InvalidTick as err:
        assert not MIN_PRICE <= price <= MAX_PRICE, err.reason
    else:
        assert MIN_PRICE <= price <= MAX_PRICE


# --- cryptoflow-ticks: a symbol's stored ticks of a batch in one record ----------------

stored_tick = st.builds(
    lambda price, millis, source: PriceTick(
        symbol="ETHUSDT", price=price, source=source,
        ts=datetime.fromtimestamp(millis // 1000, tz=UTC).replace(
            microsecond=millis % 1000 * 1000)),
    st.floats(min_value=MIN_PRICE, max_value=MAX_PRICE),
    st.integers(min_value=1_483_228_800_000, max_value=1_795_000_000_000),
    st.sampled_from(["binance-rest", "external"]),
)


@given(ticks=st.lists(stored_tick, min_size=1, max_size=2000))
def test_stored_ticks_round_trip_with_their_origins(ticks: list[PriceTick]) -> None:
    stored = [(tick, f"eth/2/{offset}") for offset, tick in enumerate(ticks)]
    values = stored_ticks_records(stored)
    assert all(len(value) <= STORED_TICKS_RECORD_BYTES for value in values)
    again = [one for value in values for one in parse_stored_ticks(value, SYMBOLS, NOW).ticks]
    assert [(t.symbol, t.price, t.ts, t.source, o) for t, o in again] == [
        (t.symbol, t.price, t.ts, t.source, o) for t, o in stored]


def test_ticks_with_the_longest_sources_still_fit_in_records() -> None:
    tick = PriceTick(symbol="ETHUSDT", price=1.0, ts=NOW, source="x" * (MAX_TICK_BYTES - 60))
    values = stored_ticks_records([(tick, f"eth/0/{n}") for n in range(100)])
    assert len(values) > 1
    assert all(len(value) <= MAX_STORED_TICKS_BYTES for value in values)
    assert sum(len(parse_stored_ticks(v, SYMBOLS, NOW).ticks) for v in values) == 100


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"[1]", "expected a JSON object"),
        (wire(), "expected ticks (objects) and as many origins"),  # one tick, as on btc
        (b'{"symbol": "BTCUSDT", "ticks": [], "origins": ["btc/0/1"]}', "as many origins"),
        (b'{"symbol": "BTCUSDT", "ticks": {}, "origins": []}', "as many origins"),
        (b'{"symbol": "BTCUSDT", "ticks": [], "origins": []}', "no ticks"),
        (b'{"symbol": "BTCUSDT", "ticks": [1], "origins": ["btc/0/1"]}', "ticks (objects)"),
        (b'{"symbol": "BTCUSDT", "ticks": [{"price": 1, "ts": 1764547200000}],'
         b' "origins": [7]}', "origins must be strings"),
        (b'{"symbol": "XRPUSDT", "ticks": [{"price": 1, "ts": 1764547200000}],'
         b' "origins": ["btc/0/1"]}', "unknown symbol"),
        (b'{"symbol": "BTCUSDT", "ticks": [{"price": -1, "ts": 1764547200000}],'
         b' "origins": ["btc/0/1"]}', "price"),
        (b'{"symbol": "BTCUSDT", "ticks": [{"price": 1}], "origins": ["btc/0/1"]}',
         "missing field 'ts'"),
        (b'{"ticks": ' + b"[" * 5000, "nested too deeply"),
    ],
)
def test_a_stored_ticks_record_that_is_not_one_is_refused(value: bytes, reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        parse_stored_ticks(value, SYMBOLS, NOW)
    assert reason in caught.value.reason
