"""Dead-letter documents keep the value exactly and are named by their origin."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptoflow.agents.deadletters import dead_letter_document

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_text_stays_text_and_bytes_stay_bytes() -> None:
    headers = {"cryptoflow-reason": b"not JSON: x", "cryptoflow-origin": b"btc/1/42"}
    doc = dead_letter_document(b"\xff\x00", b"BTCUSDT", headers, NOW, "deadletter/0/7")
    assert doc == {"_id": "btc/1/42", "reason": "not JSON: x", "key": "BTCUSDT",
                   "value": b"\xff\x00", "received_at": NOW}
    assert dead_letter_document(b'{"a": 1}', None, headers, NOW, "x")["value"] == '{"a": 1}'


def test_a_letter_without_headers_is_named_by_where_it_sits() -> None:
    doc = dead_letter_document(b"raw", None, {}, NOW, "cryptoflow-deadletter/2/9")
    assert (doc["_id"], doc["reason"]) == ("cryptoflow-deadletter/2/9", "no reason given")
