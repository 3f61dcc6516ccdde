"""PricePoller: what one poll publishes, and how failures are reported."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from cryptoflow.backoff import Backoff
from cryptoflow.devstack.simexchange import Fault, SimExchange
from cryptoflow.records import PriceTick
from cryptoflow.sources.binance import BinanceClient
from cryptoflow.sources.poller import PricePoller

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


class Published:
    """Collects what the poller sends, in place of the Kafka topics."""

    def __init__(self) -> None:
        self.ticks: list[PriceTick] = []
        self.dead: list[tuple[bytes, str, str, bytes]] = []

    async def tick(self, tick: PriceTick) -> None:
        self.ticks.append(tick)

    async def dead_letter(self, value: bytes, reason: str, origin: str, key: bytes) -> None:
        self.dead.append((value, reason, origin, key))


NO_PAUSE = Backoff(base=0.0, cap=0.0)


def poller_for(
    client: BinanceClient, out: Published, symbols: list[str], backoff: Backoff = NO_PAUSE,
) -> PricePoller:
    return PricePoller(client, symbols, out.tick, out.dead_letter, backoff)


@pytest.mark.asyncio
async def test_a_poll_publishes_one_tick_per_served_price(
    exchange: SimExchange, client: BinanceClient,
) -> None:
    out = Published()
    poller = poller_for(client, out, SYMBOLS)
    await poller.poll()
    assert [(t.symbol, t.price) for t in out.ticks] == [
        (p.symbol, float(p.price)) for p in exchange.served
    ]
    assert len({t.ts for t in out.ticks}) == 1
    assert out.ticks[0].ts.tzinfo is not None and out.ticks[0].ts.microsecond % 1000 == 0
    assert poller.last_success == out.ticks[0].ts


@pytest.mark.asyncio
async def test_a_bad_price_becomes_a_dead_letter(
    exchange: SimExchange, client: BinanceClient,
) -> None:
    out = Published()
    exchange.inject(Fault.bad_price("ETHUSDT", "0.00000000"))
    await poller_for(client, out, SYMBOLS).poll()
    assert [t.symbol for t in out.ticks] == ["BTCUSDT", "SOLUSDT"]
    ((value, reason, origin, key),) = out.dead
    assert (value, key) == (b"0.00000000", b"ETHUSDT")
    assert "price must be > 0" in reason
    assert origin.startswith("binance/ETHUSDT/")


@pytest.mark.asyncio
async def test_failures_are_logged_once_per_change_and_polling_resumes(
    exchange: SimExchange, client: BinanceClient, caplog: pytest.LogCaptureFixture,
) -> None:
    out = Published()
    poller = poller_for(client, out, SYMBOLS)
    exchange.inject(Fault.status(503), Fault.status(502), Fault.status(500), Fault.truncated())
    with caplog.at_level(logging.INFO, logger="cryptoflow.sources.poller"):
        for _ in range(5):
            await poller.poll()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert messages[0].startswith("Binance: server_error: HTTP 503")
    assert messages[1].startswith("Binance: bad_response")
    assert messages[2] == "Binance: prices flow again after bad_response"
    assert len(out.ticks) == 3


@pytest.mark.asyncio
async def test_an_invalid_symbol_is_dropped_and_the_rest_keep_flowing(
    exchange: SimExchange, client: BinanceClient, caplog: pytest.LogCaptureFixture,
) -> None:
    out = Published()
    poller = poller_for(client, out, ["BTCUSDT", "TYPOUSDT", "SOLUSDT"])
    with caplog.at_level(logging.ERROR, logger="cryptoflow.sources.poller"):
        await poller.poll()
        await poller.poll()
    assert poller.symbols == ["BTCUSDT", "SOLUSDT"]
    # the probes' own answers count too: nothing served is dropped
    assert [t.symbol for t in out.ticks] == ["BTCUSDT", "SOLUSDT"] * 2
    assert [(t.symbol, t.price) for t in out.ticks] == [
        (p.symbol, float(p.price)) for p in exchange.served]
    assert any("symbol TYPOUSDT rejected" in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
async def test_after_a_failure_polls_pause_with_backoff(
    exchange: SimExchange, client: BinanceClient,
) -> None:
    out = Published()
    poller = poller_for(client, out, SYMBOLS, Backoff(base=0.3, cap=0.3))
    exchange.inject(Fault.status(503))
    await poller.poll()
    for _ in range(3):
        await poller.poll()  # within the pause: no request at all
    assert len(exchange.requests) == 1
    await asyncio.sleep(0.31)
    await poller.poll()
    assert len(exchange.requests) == 2
    assert len(out.ticks) == 3


@pytest.mark.asyncio
async def test_an_exchange_that_does_not_answer_is_one_error_that_says_what_to_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Offline: the first error names the failure and what to check, or make demo; the
    retries after it say nothing more."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = BinanceClient(f"http://127.0.0.1:{port}", timeout=1.0)
    try:
        poller = poller_for(client, Published(), SYMBOLS, Backoff(base=0.0, cap=0.0))
        with caplog.at_level(logging.INFO, logger="cryptoflow.sources.poller"):
            for _ in range(3):
                await poller.poll()
    finally:
        await client.close()
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("Binance: unreachable: ")
    assert message.endswith("(will keep polling); check the network (a proxy, a firewall), "
                            "or run offline against the simulated exchange: make demo")
