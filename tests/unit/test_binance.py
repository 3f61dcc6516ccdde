"""BinanceClient against the local exchange that answers as Binance documents."""

from __future__ import annotations

import time

import pytest

from cryptoflow.devstack.simexchange import Fault, SimExchange
from cryptoflow.exceptions import (
    BinanceApiError,
    BinanceBadResponse,
    BinanceRateLimited,
    BinanceServerError,
    BinanceTimeout,
    BinanceUnreachable,
)
from cryptoflow.sources.binance import BinanceClient, Quote

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
