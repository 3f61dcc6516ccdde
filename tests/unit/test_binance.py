"""BinanceClient against the local exchange that answers as Binance documents."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from cryptoflow.devstack.simexchange import AGG_TRADES_PATH, Fault, SimExchange
from cryptoflow.exceptions import (
    BinanceApiError,
    BinanceBadResponse,
    BinanceRateLimited,
    BinanceServerError,
    BinanceTimeout,
    BinanceUnreachable,
)
from cryptoflow.sources.binance import AGG_TRADES_SPAN_MS, BinanceClient, Quote

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


@pytest.mark.asyncio
async def test_one_request_returns_every_symbol_as_served(
    exchange: SimExchange, client: BinanceClient,
) -> None:
    assert client.simulated is None  # nothing answered yet
    quotes = await client.fetch_prices(SYMBOLS)
    assert client.simulated is True  # the simulated exchange says what it is
    assert [q.symbol for q in quotes] == SYMBOLS
    assert quotes == [Quote(p.symbol, p.price) for p in exchange.served]
    assert all(isinstance(q.price, str) and float(q.price) > 0 for q in quotes)
    (request,) = exchange.requests
    assert "symbols" in request.query
    assert client.used_weight == 4


@pytest.mark.asyncio
async def test_a_single_symbol_uses_the_symbol_form(
    exchange: SimExchange, client: BinanceClient,
) -> None:
    (quote,) = await client.fetch_prices(["ETHUSDT"])
    assert quote.symbol == "ETHUSDT"
    assert exchange.requests[-1].query == {"symbol": "ETHUSDT"}
    assert client.used_weight == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [429, 418])
async def test_retry_after_is_honoured_without_sending(
    exchange: SimExchange, client: BinanceClient, status: int,
) -> None:
    exchange.inject(Fault.status(status, retry_after=1))
    with pytest.raises(BinanceRateLimited) as caught:
        await client.fetch_prices(SYMBOLS)
    assert caught.value.status == status
    assert caught.value.retry_after == 1
    assert caught.value.kind == ("banned" if status == 418 else "rate_limited")
    with pytest.raises(BinanceRateLimited, match="no request sent") as again:
        await client.fetch_prices(SYMBOLS)
    assert again.value.kind == caught.value.kind
    assert len(exchange.requests) == 1
    assert 0 < client.retry_in() <= 1
    time.sleep(client.retry_in())  # noqa: ASYNC251  (waiting out the ban is the point)
    assert len(await client.fetch_prices(SYMBOLS)) == 3
    assert exchange.violations == []


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors(exchange: SimExchange, client: BinanceClient, status: int) -> None:
    exchange.inject(Fault.status(status))
    with pytest.raises(BinanceServerError, match=f"HTTP {status}"):
        await client.fetch_prices(SYMBOLS)
    assert len(await client.fetch_prices(SYMBOLS)) == 3


@pytest.mark.asyncio
async def test_a_slow_answer_is_a_timeout(exchange: SimExchange, client: BinanceClient) -> None:
    exchange.inject(Fault.delay(2.0))
    with pytest.raises(BinanceTimeout):
        await client.fetch_prices(SYMBOLS)


@pytest.mark.asyncio
async def test_a_truncated_body_is_a_bad_response(
    exchange: SimExchange, client: BinanceClient,
) -> None:
    exchange.inject(Fault.truncated())
    with pytest.raises(BinanceBadResponse):
        await client.fetch_prices(SYMBOLS)


@pytest.mark.asyncio
async def test_a_body_of_the_wrong_shape_is_a_bad_response(
    exchange: SimExchange, client: BinanceClient,
) -> None:
    exchange.inject(Fault.wrong_shape())
    with pytest.raises(BinanceBadResponse):
        await client.fetch_prices(SYMBOLS)


@pytest.mark.asyncio
async def test_binance_error_bodies_keep_code_and_message(client: BinanceClient) -> None:
    with pytest.raises(BinanceApiError) as caught:
        await client.fetch_prices(["BTCUSDT", "NOPEUSDT"])
    assert (caught.value.status, caught.value.code) == (400, -1121)
    assert caught.value.msg == "Invalid symbol."


@pytest.mark.asyncio
async def test_a_refused_connection_is_unreachable() -> None:
    exchange = SimExchange()
    port = await exchange.start()
    await exchange.stop()
    client = BinanceClient(f"http://127.0.0.1:{port}", timeout=0.5)
    try:
        with pytest.raises(BinanceUnreachable):
            await client.fetch_prices(SYMBOLS)
    finally:
        await client.close()


@pytest_asyncio.fixture
async def traded() -> AsyncIterator[BinanceClient]:
    """A client of an exchange that has traded for the last two and a half minutes, so
    the minute before the current one is closed and whole."""
    sim = SimExchange(seed=1, history=150.0)
    await sim.start()
    binance = BinanceClient(sim.url, timeout=2.0)
    yield binance
    await binance.close()
    await sim.stop()


@pytest.mark.asyncio
async def test_a_kline_has_every_field_and_they_add_up_the_trades_of_its_minute(
    traded: BinanceClient,
) -> None:
    """The klines and the aggregate trades of a closed minute, both read through the
    client, agree as the Kline docstring says they compare."""
    start_ms = int(time.time() // 60 * 60_000) - 60_000
    (kline,) = await traded.fetch_klines("BTCUSDT", start_ms, start_ms)
    trades = await traded.fetch_agg_trades_between("BTCUSDT", start_ms, start_ms + 59_999)
    assert trades and all(start_ms <= t["T"] < start_ms + 60_000 for t in trades)
    assert [t["a"] for t in trades] == list(range(trades[0]["a"], trades[-1]["a"] + 1))

    def total(values: list[Decimal]) -> float:
        return float(sum(values, Decimal(0)))

    bought = [t for t in trades if not t["m"]]  # the taker bought
    assert 0 < len(bought) < len(trades)
    assert (kline.open_time, kline.close_time) == (start_ms, start_ms + 59_999)
    assert (kline.open, kline.close) == (float(trades[0]["p"]), float(trades[-1]["p"]))
    assert (kline.high, kline.low) == (max(float(t["p"]) for t in trades),
                                       min(float(t["p"]) for t in trades))
    assert kline.trades == sum(t["l"] - t["f"] + 1 for t in trades)
    assert kline.volume == total([Decimal(t["q"]) for t in trades])
    assert kline.taker_buy_volume == total([Decimal(t["q"]) for t in bought])
    for kline_quote, part in ((kline.quote_volume, trades),
                              (kline.taker_buy_quote_volume, bought)):
        exact = total([Decimal(t["p"]) * Decimal(t["q"]) for t in part])
        assert math.isclose(kline_quote, exact, rel_tol=1e-15, abs_tol=1e-8)


@pytest.mark.asyncio
async def test_aggregate_trades_by_time_ask_for_a_closed_range_of_at_most_an_hour(
    exchange: SimExchange, client: BinanceClient,
) -> None:
    now_ms = int(time.time() * 1000)
    assert await client.fetch_agg_trades_between(
        "ETHUSDT", now_ms - AGG_TRADES_SPAN_MS, now_ms, limit=10) == []
    (request,) = exchange.requests
    assert (request.path, request.query) == (AGG_TRADES_PATH, {
        "symbol": "ETHUSDT", "startTime": str(now_ms - AGG_TRADES_SPAN_MS),
        "endTime": str(now_ms), "limit": "10"})
    assert client.used_weight == 4
    for start_ms, end_ms in ((now_ms - AGG_TRADES_SPAN_MS - 1, now_ms), (now_ms, now_ms - 1)):
        with pytest.raises(ValueError, match="must be 0 to 3600000 ms after the start"):
            await client.fetch_agg_trades_between("ETHUSDT", start_ms, end_ms)
    assert len(exchange.requests) == 1  # refused without a request


@pytest.mark.asyncio
async def test_aggregate_trades_by_time_of_the_wrong_shape_are_a_bad_response(
    exchange: SimExchange, client: BinanceClient,
) -> None:
    exchange.inject(Fault.wrong_shape().at(AGG_TRADES_PATH))
    with pytest.raises(BinanceBadResponse, match="expected a list of aggregate trades"):
        await client.fetch_agg_trades_between("ETHUSDT", 0, 1)


ROW = [1_764_000_000_000, "100.5", "101.0", "99.0", "100.0", "2.5", 1_764_000_059_999,
       "251.25", 7, "1.5", "150.75", "0"]


async def serving(body: Any) -> tuple[web.AppRunner, str]:
    """An exchange whose klines endpoint answers ``body`` (JSON) to every request."""
    async def klines(_: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/v3/klines", klines)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.mark.asyncio
@pytest.mark.parametrize("row", [
    ROW[:11],  # a field short
    "not a row",
    [str(ROW[0]), *ROW[1:]],  # a time as a string
    [*ROW[:8], True, *ROW[9:]],  # a trade count as a boolean
    [*ROW[:5], 2.5, *ROW[6:]],  # a volume as a JSON number, not Binance's decimal string
    [*ROW[:7], "NaN", *ROW[8:]],
    [*ROW[:9], "-1.5", *ROW[10:]],
    [*ROW[:10], "1,5", "0"],
])
async def test_a_malformed_kline_row_is_a_bad_response(row: object) -> None:
    runner, url = await serving([ROW, row])
    binance = BinanceClient(url, timeout=2.0)
    try:
        with pytest.raises(BinanceBadResponse, match="kline"):
            await binance.fetch_klines("BTCUSDT", 0, 1)
    finally:
        await binance.close()
        await runner.cleanup()


@pytest.mark.asyncio
async def test_a_well_formed_kline_row_gives_every_field() -> None:
    runner, url = await serving([ROW])
    binance = BinanceClient(url, timeout=2.0)
    try:
        (kline,) = await binance.fetch_klines("BTCUSDT", 0, 1)
    finally:
        await binance.close()
        await runner.cleanup()
    assert (kline.open_time, kline.open, kline.high, kline.low, kline.close, kline.volume,
            kline.close_time, kline.quote_volume, kline.trades, kline.taker_buy_volume,
            kline.taker_buy_quote_volume) == (
        1_764_000_000_000, 100.5, 101.0, 99.0, 100.0, 2.5, 1_764_000_059_999, 251.25, 7, 1.5,
        150.75)
