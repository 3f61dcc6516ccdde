"""Dead-letter reasons become bounded metric labels."""

from __future__ import annotations

import pytest

from cryptoflow.metrics import reason_label


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("unknown symbol 'DOGEUSDT'", "unknown symbol"),
        ("not JSON: Expecting value: line 1 column 1 (char 0)", "not JSON"),
        ("price must be > 0, got 0", "price must"),
        ("missing field 'price'", "missing field"),
        ("ts out of range: 9999-12-31T00:00:00.000Z", "ts out"),
        ("message too large: 1000061 bytes (limit 4096)", "message too"),
    ],
)
def test_reason_labels_drop_the_values(reason: str, label: str) -> None:
    assert reason_label(reason) == label
