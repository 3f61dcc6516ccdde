"""Dead-letter documents keep the value exactly; their identity is computed, not read."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.agents.deadletters import dead_letter_document, letter_id

NOW = datetime(2026, 11, 24, tzinfo=UTC)
HEADERS = {"cryptoflow-reason": b"not JSON: x", "cryptoflow-origin": b"btc/1/42"}


def test_text_stays_text_and_bytes_stay_bytes() -> None:
    doc = dead_letter_document(b"\xff\x00", b"BTCUSDT", HEADERS, NOW, "cryptoflow-deadletter/0/7")
    assert {k: v for k, v in doc.items() if k != "_id"} == {
        "origin": "btc/1/42", "reason": "not JSON: x", "key": "BTCUSDT",
        "value": b"\xff\x00", "received_at": NOW}
    assert dead_letter_document(b'{"a": 1}', None, HEADERS, NOW, "x")["value"] == '{"a": 1}'


def test_a_letter_naming_the_origin_of_another_is_not_its_duplicate() -> None:
    real = dead_letter_document(b"poison", b"BTCUSDT", HEADERS, NOW, "cryptoflow-deadletter/0/8")
    forged = dead_letter_document(b"forged", b"BTCUSDT", {**HEADERS, "cryptoflow-reason": b"x"},
                                  NOW, "cryptoflow-deadletter/0/7")
    assert real["origin"] == forged["origin"]
    assert real["_id"] != forged["_id"]


def test_every_copy_of_a_letter_has_one_identity() -> None:
    # redelivered from the dead-letter topic, or resent by a restarted worker
    first = dead_letter_document(b"poison", b"BTCUSDT", HEADERS, NOW, "cryptoflow-deadletter/0/7")
    again = dead_letter_document(b"poison", b"BTCUSDT", HEADERS, NOW, "cryptoflow-deadletter/3/9")
    assert first["_id"] == again["_id"]


def test_a_letter_without_headers_is_named_by_where_it_sits() -> None:
    for headers in ({}, {"cryptoflow-origin": None, "cryptoflow-reason": None}):
        doc = dead_letter_document(b"raw", None, headers, NOW,  # type: ignore[arg-type]  # headers as Kafka may give them, values missing
                                   "cryptoflow-deadletter/2/9")
        assert (doc["origin"], doc["reason"]) == ("cryptoflow-deadletter/2/9", "no reason given")
    elsewhere = dead_letter_document(b"raw", None, {}, NOW, "cryptoflow-deadletter/2/10")
    assert elsewhere["_id"] != doc["_id"]


parts = st.lists(st.none() | st.binary(max_size=8), min_size=4, max_size=4)


@given(parts, parts)
def test_letters_that_differ_in_any_part_have_different_identities(
    one: list[bytes | None], other: list[bytes | None],
) -> None:
    assert (letter_id(*one) == letter_id(*other)) == (one == other)
