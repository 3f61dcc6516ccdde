"""GapFiller against a scripted exchange: how long it keeps trying, and how far it goes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cryptoflow.backoff import Backoff
from cryptoflow.exceptions import BinanceServerError
from cryptoflow.records import Trade
from cryptoflow.sources.gapfill import GapFiller
from cryptoflow.sources.gaps import Gap


class Exchange:
    """Every aggregate id exists; ``fail_at`` lists the request numbers that fail (5xx);
    each request takes ``pause`` seconds."""

    def __init__(self, fail_at: set[int] = frozenset(), pause: float = 0.0) -> None:
        self.fail_at = fail_at
        self.pause = pause
        self.requests = 0

    def retry_in(self) -> float:
        return 0.0

    async def fetch_agg_trades(self, symbol: str, from_id: int, limit: int) -> list[dict[str, Any]]:
        self.requests += 1
        await asyncio.sleep(self.pause)
        if self.requests in self.fail_at:
            raise BinanceServerError("HTTP 503: down for a moment")
        now = int(time.time() * 1000)
        return [{"a": i, "p": "1.5", "q": "2", "f": i, "l": i, "T": now, "m": True}
                for i in range(from_id, from_id + limit)]


async def fill(exchange: Exchange, from_id: int, live_from: int | None, most: int,
               give_up_after: float) -> tuple[int, list[int], list[tuple[Gap, str]]]:
    emitted: list[int] = []
    gaps: list[tuple[Gap, str]] = []

    async def emit(trade: Trade, fields: dict[str, Any]) -> None:
        emitted.append(trade.trade_id)

    async def record_gap(gap: Gap, reason: str) -> None:
        gaps.append((gap, reason))

    filler = GapFiller(exchange, record_gap, timeout=give_up_after,  # type: ignore[arg-type]  # a fake exchange with only the calls the filler makes
                       backoff=Backoff(base=0.01, cap=0.01))
    end = await filler.fill("BTCUSDT", from_id, lambda: live_from, emit, most)
    return end.next_id, emitted, gaps


@pytest.mark.asyncio
async def test_the_fill_timeout_counts_from_the_first_failure_in_a_row() -> None:
    """A fill that has run longer than the timeout meets one failed request: it goes on."""
    exchange = Exchange(fail_at={6}, pause=0.05)
    next_id, emitted, gaps = await fill(exchange, 1, 8_001, most=10_000, give_up_after=0.2)
    assert not gaps
    assert emitted == list(range(1, 8_001)) and next_id == 8_001


@pytest.mark.asyncio
async def test_failures_in_a_row_past_the_timeout_are_an_unfilled_gap() -> None:
    exchange = Exchange(fail_at=set(range(2, 1_000)))
    next_id, emitted, gaps = await fill(exchange, 1, 5_001, most=10_000, give_up_after=0.2)
    ((gap, reason),) = gaps
    assert emitted == list(range(1, 1_001)) and next_id == 5_001
    assert (gap.first_id, gap.last_id) == (1_001, 5_000)
    assert "longer than the fill timeout in a row" in reason


@pytest.mark.asyncio
async def test_a_fill_stops_at_its_bound_and_records_the_rest() -> None:
    """The stream claims an id 10**12 ahead: at most ``most`` ids are fetched."""
    exchange = Exchange()
    next_id, emitted, gaps = await fill(exchange, 1, 10**12, most=2_500, give_up_after=1.0)
    assert emitted == list(range(1, 2_501)) and exchange.requests == 3
    ((gap, reason),) = gaps
    assert (gap.first_id, gap.last_id, next_id) == (2_501, 10**12 - 1, 10**12)
    assert "CRYPTOFLOW_GAP_FILL_MAX_IDS" in reason
