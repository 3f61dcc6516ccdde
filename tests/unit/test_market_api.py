"""The market-data endpoints' parsing and shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cryptoflow.exceptions import ApiError
from cryptoflow.web import market_api

TS = datetime(2026, 12, 1, 12, 0, 0, 123000, tzinfo=UTC)


def doc(trade_id: int) -> dict[str, Any]:
    return {"_id": f"BTCUSDT:{trade_id:020d}", "symbol": "BTCUSDT", "trade_id": trade_id,
            "price": 1.5, "qty": 2.0, "first_trade_id": 10, "last_trade_id": 11, "ts": TS,
            "is_buyer_maker": False}


def test_a_trade_is_shown_with_its_fields_and_a_utc_time() -> None:
    assert market_api.trade_body(doc(7)) == {
        "trade_id": 7, "price": 1.5, "qty": 2.0, "first_trade_id": 10, "last_trade_id": 11,
        "ts": "2026-12-01T12:00:00.123Z", "is_buyer_maker": False}


@pytest.mark.parametrize("bad", ["-1", "x", "\u0663", "1" * 20, ""])
def test_a_trade_id_is_ascii_digits(bad: str) -> None:
    with pytest.raises(ApiError) as caught:
        market_api.parse_trade_id({"from_id": bad}, "from_id")
    assert (caught.value.status, caught.value.param) == (400, "from_id")


def test_no_trade_id_is_none_and_a_good_one_is_read() -> None:
    assert market_api.parse_trade_id({}, "from_id") is None
    assert market_api.parse_trade_id({"from_id": "42"}, "from_id") == 42


def connection(
    down_for: float | None, state: str = "waiting", running: bool = True,
) -> dict[str, Any]:
    return {"name": "binance-1", "state": state, "down_for": down_for, "running": running,
            "last_error": "closed by the server (code 1006)"}


def test_streams_are_unhealthy_only_when_a_connection_is_down_too_long() -> None:
    assert market_api.streams_health(False, [], 30)[0]
    assert market_api.streams_health(True, [], 30)[0]
    assert market_api.streams_health(True, [connection(None, "connected")], 30)[0]
    assert market_api.streams_health(True, [connection(5.0)], 30)[0]
    ok, detail = market_api.streams_health(True, [connection(31.0)], 30)
    assert not ok and "binance-1" in detail and "1006" in detail


def test_a_connection_whose_task_ended_is_down_whatever_its_state_says() -> None:
    ok, detail = market_api.streams_health(
        True, [connection(None, "connected", running=False)], 30)
    assert not ok and "binance-1" in detail
