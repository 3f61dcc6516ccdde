"""`faust -A cryptoflow latest|stats|jumps` against ticks stored in a real database."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from cryptoflow.localstack import LocalStack

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
PRICES = [100.0, 100.5, 104.0, 103.0, 97.0, 97.5]


def command(stack: LocalStack, tmp_path: Path, *args: str) -> Any:
    env = {"PATH": "/usr/bin:/bin", **stack.env()}
    result = subprocess.run(
        [sys.executable, "-m", "faust", "-A", "cryptoflow", *args, "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture
def ticks(mongo: Database[dict[str, Any]]) -> None:
    mongo["btc"].insert_many([
        {"symbol": "BTCUSDT", "price": price, "ts": T0 + timedelta(seconds=3 * i)}
        for i, price in enumerate(PRICES)
    ])


@pytest.mark.usefixtures("ticks")
def test_the_commands_print_what_the_documents_say(stack: LocalStack, tmp_path: Path) -> None:
    latest = command(stack, tmp_path, "latest")
    assert latest[0] == {"symbol": "BTCUSDT", "price": 97.5,
                         "ts": (T0 + timedelta(seconds=15)).isoformat().replace("+00:00", ".000Z")}
    assert latest[1]["price"] is None  # nothing stored for ETHUSDT

    (stats,) = command(stack, tmp_path, "stats", "btcusdt", "--limit", "3")
    assert stats == {"symbol": "BTCUSDT", "count": 3, "min": 97.0, "max": 103.0,
                     "avg": pytest.approx((103.0 + 97.0 + 97.5) / 3)}

    jumps = command(stack, tmp_path, "jumps", "BTCUSDT", "--threshold", "0.03")
    assert [(j["from_price"], j["to_price"]) for j in jumps] == [(100.5, 104.0), (103.0, 97.0)]
