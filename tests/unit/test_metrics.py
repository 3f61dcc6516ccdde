"""Dead-letter reasons become metric labels from a fixed set, whatever the letter says."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.exceptions import InvalidTick
from cryptoflow.metrics import REASON_LABELS, reason_label
from cryptoflow.records import parse_tick

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def tick(**fields: object) -> bytes:
    body = {"symbol": "BTCUSDT", "price": 1.5, "ts": "2026-11-24T11:59:59Z", **fields}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (None, "not_json"),
        (b"\xff not json", "not_json"),
        (b"[1, 2]", "not_json"),
        (b"x" * 5000, "too_large"),
        (tick(price=...), "missing_field"),
        (tick(symbol="DOGEUSDT"), "unknown_symbol"),
        (tick(symbol=7), "unknown_symbol"),
        (tick(price=0), "bad_price"),
        (tick(price="NaN"), "bad_price"),
        (tick(price="cheap"), "bad_price"),
        (tick(price=[1]), "bad_price"),
        (tick(price=1.7e308), "bad_price"),
        (tick(ts="9999-12-31T00:00:00Z"), "bad_ts"),
        (tick(ts="yesterday"), "bad_ts"),
        (tick(ts="2026-11-24T11:59:59"), "bad_ts"),
        (tick(ts=[1]), "bad_ts"),
        (tick(source=1), "bad_source"),
    ],
)
def test_every_reason_of_parse_tick_has_its_kind(value: bytes | None, label: str) -> None:
    with pytest.raises(InvalidTick) as caught:
        parse_tick(value, {"BTCUSDT"}, NOW)
    assert reason_label(caught.value.reason) == label


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("Binance answered for a symbol not asked for: DOGEUSDT", "unknown_symbol"),
        ("database rejected the document: document too large", "database_rejected"),
        ("no reason given", "other"),
        ("unknown symbol", "unknown_symbol"),
        ("pricey", "other"),
    ],
)
def test_other_reasons(reason: str, label: str) -> None:
    assert reason_label(reason) == label


@given(st.text())
def test_any_reason_maps_into_the_fixed_set(reason: str) -> None:
    # 20,000 forged reasons made 20,000 series; now at most len(REASON_LABELS).
    assert reason_label(reason) in REASON_LABELS



def test_market_data_reasons_have_their_own_kinds() -> None:
    assert reason_label("stream frame is not JSON: Expecting value") == "bad_frame"
    assert reason_label("a stream this worker did not ask for: x@weird") == "bad_frame"
    assert reason_label("'p' (price): price out of range") == "bad_price"
    assert reason_label("'q' must be a finite number > 0, got '0'") == "bad_field"
    assert reason_label("wrong partition: BTCUSDT belongs on 0, not 2") == "wrong_partition"
    assert {"bad_frame", "bad_field", "wrong_partition"} <= REASON_LABELS
