"""Unit-test fixtures: the simulated exchange in-process, and a client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from cryptoflow.devstack.simexchange import SimExchange
from cryptoflow.sources.binance import BinanceClient


@pytest_asyncio.fixture
async def exchange() -> AsyncIterator[SimExchange]:
    sim = SimExchange(seed=1)
    await sim.start()
    yield sim
    await sim.stop()


@pytest_asyncio.fixture
async def client(exchange: SimExchange) -> AsyncIterator[BinanceClient]:
    binance = BinanceClient(exchange.url, timeout=0.5)
    yield binance
    await binance.close()
