"""The API's request parsing and JSON shapes, without a worker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.exceptions import ApiError
from cryptoflow.records import BookTicker, PriceTick, Trade
from cryptoflow.tables.stats import RollingStats
from cryptoflow.tables.trade_stats import SpreadStats, TradeStats
from cryptoflow.tables.windows import WINDOWS
from cryptoflow.web import api

SYMBOLS = ("BTCUSDT", "ETHUSDT")
NOW = datetime(2026, 11, 24, 12, 0, 42, 500000, tzinfo=UTC)


def test_symbols_are_case_insensitive() -> None:
    assert api.parse_symbol("btcusdt", SYMBOLS) == "BTCUSDT"


def test_a_symbol_is_case_insensitive_in_ascii_only() -> None:
    with pytest.raises(ApiError) as caught:
        api.parse_symbol("btcu\u017fdt", SYMBOLS)  # long s: its upper() is 'S'
    assert (caught.value.status, caught.value.param) == (404, "symbol")


def test_an_unknown_symbol_is_a_404_naming_the_known_ones() -> None:
    with pytest.raises(ApiError) as caught:
        api.parse_symbol("DOGEUSDT", SYMBOLS)
    assert (caught.value.status, caught.value.param) == (404, "symbol")
    assert "BTCUSDT, ETHUSDT" in caught.value.message


def test_window_defaults_to_one_minute_and_knows_the_documented_sizes() -> None:
    assert api.parse_window({}).name == "1m"
    assert [api.parse_window({"window": w}).name for w in ("1m", "5m", "1h")] == ["1m", "5m", "1h"]


@pytest.mark.parametrize("window", ["2m", "", "1M", "x" * 10_000])
def test_a_bad_window_is_a_400_naming_the_parameter(window: str) -> None:
    with pytest.raises(ApiError) as caught:
        api.parse_window({"window": window})
    assert (caught.value.status, caught.value.param) == (400, "window")
    assert len(caught.value.message) < 200


def test_at_is_optional_and_parsed_as_utc() -> None:
    assert api.parse_time({}, "at", NOW) is None
    assert api.parse_time({"at": "2026-11-24T13:00:00+01:00"}, "at", NOW) == datetime(
        2026, 11, 24, 12, tzinfo=UTC)
    # a '+' left unencoded in a query string arrives as a space
    assert api.parse_time({"at": "2026-11-24T13:00:00 01:00"}, "at", NOW) == datetime(
        2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "at", ["tomorrow", "2026-11-24T12:00:00", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
           "2" * 100],
)
def test_a_bad_at_is_a_400(at: str) -> None:
    with pytest.raises(ApiError) as caught:
        api.parse_time({"at": at}, "at", NOW)
    assert (caught.value.status, caught.value.param) == (400, "at")


def test_window_stats_shape() -> None:
    tick = PriceTick(symbol="BTCUSDT", price=100.0, ts=NOW)
    stats = RollingStats() + tick + PriceTick(symbol="BTCUSDT", price=110.0, ts=NOW)
    body = api.window_stats("BTCUSDT", WINDOWS["1m"], NOW, stats)
    assert body == {
        "symbol": "BTCUSDT",
        "window": {"size": "1m", "start": "2026-11-24T12:00:00.000Z",
                   "end": "2026-11-24T12:01:00.000Z"},
        "count": 2, "min": 100.0, "max": 110.0, "mean": 105.0, "stddev": 5.0,
        "open": 100.0, "close": 110.0, "change_pct": 10.0,
        "first_ts": "2026-11-24T12:00:42.500Z", "last_ts": "2026-11-24T12:00:42.500Z",
        "price_source": "ticks",
    }


TRADES = [Trade(symbol="BTCUSDT", trade_id=i, price=price, qty=qty, first_trade_id=10 * i,
                last_trade_id=10 * i + 2, time_ms=1764547200000 + 1000 * i, is_buyer_maker=maker)
          for i, (price, qty, maker) in enumerate([(100.0, 0.5, False), (110.0, 1.5, True)])]
BOOKS = [BookTicker(symbol="BTCUSDT", update_id=u, bid=bid, bid_qty=1.0, ask=bid + 1,
                    ask_qty=2.0, received_ms=1764547200000, updates=4,
                    spread_bps_sum=4 * width, spread_bps_max=width + 1)
         for u, bid, width in [(7, 99.0, 2.0), (9, 109.0, 3.0)]]
STREAMED = {
    "volume": 2.0, "quote_volume": 215.0, "vwap": 107.5, "trades": 6,
    "buy_volume": 0.5, "sell_volume": 1.5,
    "bid": 109.0, "ask": 110.0, "spread_bps_mean": 2.5, "spread_bps_max": 4.0,
}
# six ticks in the window: a 3-second sample of the price, not the trades
TICKS = RollingStats.of(PriceTick(symbol="BTCUSDT", price=95.0 + i, ts=NOW) for i in range(6))


def test_a_window_with_trades_takes_every_price_statistic_from_them() -> None:
    fields = api.window_fields(TICKS, TradeStats.of(TRADES), SpreadStats.of(BOOKS))
    assert fields == {
        "count": 2, "min": 100.0, "max": 110.0, "mean": 105.0, "stddev": 5.0,
        "open": 100.0, "close": 110.0, "change_pct": 10.0,
        "first_ts": "2025-12-01T00:00:00.000Z", "last_ts": "2025-12-01T00:00:01.000Z",
        "price_source": "trades", **STREAMED,
    }


def test_a_window_without_trades_takes_its_prices_from_the_ticks() -> None:
    for trades in (None, TradeStats()):
        fields = api.window_fields(TICKS, trades, SpreadStats.of(BOOKS))
        assert fields["price_source"] == "ticks"
        assert {name: fields[name] for name in TICKS.summary()} == TICKS.summary()


def test_a_window_value_from_before_trade_prices_takes_its_prices_from_the_ticks() -> None:
    old = TradeStats.loads(b'{"agg_trades":2,"trades":6,"buy_volume":"0.5",'
                           b'"sell_volume":"1.5","quote_volume":"215.0","last_trade_id":1}')
    fields = api.window_fields(TICKS, old, SpreadStats.of(BOOKS))
    assert fields == {**TICKS.summary(), "price_source": "ticks", **STREAMED}


def test_the_stream_fields_overwrite_no_price_statistic() -> None:
    prices = api.window_fields(TICKS, TradeStats.of(TRADES)).keys() - STREAMED.keys()
    assert prices == {*TICKS.summary(), "price_source"}


def test_a_window_without_trades_or_book_has_zero_volume_and_nulls() -> None:
    fields = api.window_fields(RollingStats(), TradeStats(), SpreadStats())
    assert fields == {
        **RollingStats().summary(), "price_source": "ticks",
        "volume": 0.0, "quote_volume": 0.0, "vwap": None, "trades": 0,
        "buy_volume": 0.0, "sell_volume": 0.0,
        "bid": None, "ask": None, "spread_bps_mean": None, "spread_bps_max": None,
    }


def test_an_empty_window_has_nulls_not_nan() -> None:
    body = api.window_stats("ETHUSDT", WINDOWS["1h"], NOW, RollingStats())
    assert body["count"] == 0
    assert body["mean"] is None and body["stddev"] is None and body["change_pct"] is None
    assert body["window"]["start"] == "2026-11-24T12:00:00.000Z"
    assert body["window"]["end"] == "2026-11-24T13:00:00.000Z"


def test_latest_price_shape() -> None:
    assert api.latest_price("BTCUSDT", None) == {"symbol": "BTCUSDT", "price": None, "ts": None}
    tick = PriceTick(symbol="BTCUSDT", price=1.5, ts=NOW)
    assert api.latest_price("BTCUSDT", tick) == {
        "symbol": "BTCUSDT", "price": 1.5, "ts": "2026-11-24T12:00:42.500Z"}


def test_error_body() -> None:
    assert api.error_body(ApiError(400, "bad", param="at")) == {
        "error": {"status": 400, "message": "bad", "param": "at"}}
    assert api.error_body(ApiError(503, "wait")) == {"error": {"status": 503, "message": "wait"}}


STARTED = NOW - timedelta(minutes=10)


def test_poll_health_fails_after_three_intervals_without_success() -> None:
    assert api.poll_health(3.0, True, NOW - timedelta(seconds=8), None, STARTED, NOW)[0]
    ok, detail = api.poll_health(3.0, True, NOW - timedelta(seconds=10), "rate_limited",
                                 STARTED, NOW)
    assert not ok
    assert detail == "no successful poll for 10.0s (rate_limited)"
    assert not api.poll_health(3.0, True, None, "unreachable", STARTED, NOW)[0]


def test_poll_health_passes_where_this_worker_does_not_poll() -> None:
    assert api.poll_health(0.0, True, None, None, STARTED, NOW) == (
        True, "poller disabled (CRYPTOFLOW_POLL_INTERVAL=0)")
    assert api.poll_health(3.0, False, None, None, STARTED, NOW)[0]


def test_health_body_names_what_fails() -> None:
    status, body = api.health_body({"broker": (True, "ok"), "database": (False, "down")})
    assert status == 503
    assert body["status"] == "failing"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"] == {"ok": False, "detail": "down"}
    assert api.health_body({"broker": (True, "ok")})[0] == 200


def test_health_before_the_worker_is_ready_says_starting() -> None:
    status, body = api.health_body({"worker": (False, "starting"), "database": (False, "x")})
    assert (status, body["status"], body["failing"]) == (503, "starting", ["worker", "database"])


def test_history_minutes_are_bounded() -> None:
    assert api.parse_count({}, "minutes", 60, 1440) == 60
    assert api.parse_count({"minutes": "5"}, "minutes", 60, 1440) == 5
    for bad in ("0", "1441", "-1", "1.5", "x" * 500):
        with pytest.raises(ApiError) as caught:
            api.parse_count({"minutes": bad}, "minutes", 60, 1440)
        assert (caught.value.status, caught.value.param) == (400, "minutes")


@pytest.mark.parametrize(
    "bad", ["\u00b2", "\u0663", "\U0001d7d7", "1\u00b2", "9" * 4301, "1" + "0" * 5000, " 5",
            "5 ", "+5", "5_0", ""],
)
def test_counts_are_ascii_digits_only(bad: str) -> None:
    # '²' passed isdigit() and failed int(); Arabic-Indic and bold digits were read as 3 and 9;
    # 4,301 digits made int() raise: each was a 500 or accepted, now a 400.
    with pytest.raises(ApiError) as caught:
        api.parse_count({"limit": bad}, "limit", 50, 500)
    assert (caught.value.status, caught.value.param) == (400, "limit")
    assert len(caught.value.message) < 200


@given(st.text())
def test_any_count_is_a_number_in_range_or_a_400(raw: str) -> None:
    try:
        value = api.parse_count({"limit": raw}, "limit", 50, 500)
    except ApiError as err:
        assert err.status == 400
    else:
        assert raw.isascii() and raw.isdigit() and value == int(raw)
        assert 1 <= value <= 500


def json_like(floats: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | floats | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=20,
    )


@given(json_like(st.floats()))
def test_json_safe_answers_are_json(value: Any) -> None:
    json.dumps(api.json_safe(value), allow_nan=False)  # raises on Infinity and NaN


@given(json_like(st.floats(allow_nan=False, allow_infinity=False)))
def test_json_safe_keeps_every_finite_answer_as_it_is(value: Any) -> None:
    assert json.dumps(api.json_safe(value)) == json.dumps(value)


def test_stats_of_absurd_prices_recovered_from_before_the_bounds_are_null() -> None:
    tick = PriceTick(symbol="BTCUSDT", price=1.7e308, ts=NOW)
    stats = RollingStats() + tick + PriceTick(symbol="BTCUSDT", price=1e-300, ts=NOW)
    body = api.json_safe(api.window_stats("BTCUSDT", WINDOWS["1h"], NOW, stats))
    assert body["stddev"] is None
    json.dumps(body, allow_nan=False)


@pytest.mark.parametrize(("url", "host"), [
    ("https://api.binance.com", "api.binance.com"),
    ("http://127.0.0.1:8081", "127.0.0.1:8081"),
    ("https://user:secret@proxy.example:8443/binance", "proxy.example:8443"),
])
def test_the_exchange_source_names_the_host_and_never_credentials(url: str, host: str) -> None:
    assert api.exchange_source(url, None) == {"host": host, "simulated": None,
                                              "unreachable_since": None}
    assert api.exchange_source(url, True)["simulated"] is True


def test_the_exchange_is_unreachable_once_every_way_to_it_fails() -> None:
    """Since the later of the poll's and the streams' failures; not while either works,
    nor for a worker that reads from it in no way."""
    early = datetime(2026, 12, 7, 13, 5, tzinfo=UTC)
    late = early + timedelta(minutes=1)
    assert api.unreachable_since([early, late]) == late
    assert api.unreachable_since([early]) == early
    assert api.unreachable_since([early, None]) is None
    assert api.unreachable_since([]) is None
    body = api.exchange_source("https://api.binance.com", None, early)
    assert body["unreachable_since"] == "2026-12-07T13:05:00.000Z"
    assert api.exchange_source("https://api.binance.com", True)["unreachable_since"] is None
