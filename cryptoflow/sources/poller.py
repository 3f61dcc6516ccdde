"""The ingest job: poll Binance on a timer and publish one PriceTick per symbol.

Runs on the group's leader only (``on_leader=True``), so N workers poll once.
A failure never stops the job: it is logged once when the kind of failure
changes (not at every tick), and the next poll tries again. A symbol Binance
calls invalid (-1121) is found, reported once and left out, so one typo does not
stop the prices of the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime

from cryptoflow import metrics
from cryptoflow.app import app
from cryptoflow.backoff import Backoff
from cryptoflow.broker.topics import quote_origin, send_dead_letter, send_tick
from cryptoflow.exceptions import BinanceApiError, BinanceError, InvalidTick
from cryptoflow.records import PriceTick, parse_price, to_millis
from cryptoflow.sources.binance import BinanceClient, Quote

log = logging.getLogger(__name__)

# The first error of an exchange that does not answer says what to do about it.
OFFLINE_KINDS = ("unreachable", "timeout")
OFFLINE_HINT = ("; check the network (a proxy, a firewall), or run offline against the "
                "simulated exchange: make demo")

INVALID_SYMBOL = -1121


SendTick = Callable[[PriceTick], Awaitable[None]]
SendDeadLetter = Callable[[bytes, str, str, bytes], Awaitable[None]]


class PricePoller:
    """One poll per call; after failures it skips polls for a growing, jittered time
    (``Backoff``), and it remembers the last failure so it logs changes only."""

    def __init__(
        self, client: BinanceClient, symbols: Sequence[str],
        send_tick: SendTick, send_dead_letter: SendDeadLetter, backoff: Backoff,
    ) -> None:
        self.client = client
        self.symbols = list(symbols)
        self.send_tick = send_tick
        self.send_dead_letter = send_dead_letter
        self.backoff = backoff
        self.failing: str | None = None  # kind of the current failure, None when healthy
        self.last_success: datetime | None = None
        self._delays: Iterator[float] | None = None  # set while failing
        self._resume_at = 0.0  # time.monotonic() before which no poll is tried

    async def poll(self) -> None:
        if not self.symbols or time.monotonic() < self._resume_at:
            return
        try:
            quotes = await self.client.fetch_prices(self.symbols)
        except BinanceApiError as err:
            self._report_failure(err)
            if err.code == INVALID_SYMBOL and len(self.symbols) > 1:
                await self._drop_invalid_symbols()
            return
        except BinanceError as err:
            self._report_failure(err)
            return
        received = await self._publish_all(quotes)
        self.last_success = received
        self._delays, self._resume_at = None, 0.0
        metrics.LAST_POLL_SUCCESS.set(received.timestamp())
        if self.failing is not None:
            log.info("Binance: prices flow again after %s", self.failing)
            self.failing = None

    async def _publish_all(self, quotes: list[Quote]) -> datetime:
        """Publish what one answer brought, stamped with one receive time; returns it."""
        received = to_millis(datetime.now(UTC))
        # All at once: the producer batches them, so a poll of many symbols waits for
        # one round of acknowledgements, not one per symbol.
        await asyncio.gather(*(self._publish(quote, received) for quote in quotes))
        return received

    async def _publish(self, quote: Quote, received: datetime) -> None:
        try:
            if quote.symbol not in self.symbols:
                raise InvalidTick(f"Binance answered for a symbol not asked for: {quote.symbol}")
            tick = PriceTick(symbol=quote.symbol, price=parse_price(quote.price), ts=received)
        except InvalidTick as err:
            await self.send_dead_letter(
                quote.price.encode(), err.reason, quote_origin(quote.symbol, received),
                quote.symbol.encode(),
            )
        else:
            await self.send_tick(tick)
            metrics.TICKS_FETCHED.labels(tick.symbol).inc()
            metrics.PRICE.labels(tick.symbol).set(tick.price)

    def _report_failure(self, err: BinanceError) -> None:
        metrics.FETCH_ERRORS.labels(err.kind).inc()
        if self._delays is None:
            self._delays = self.backoff.delays()
        self._resume_at = time.monotonic() + next(self._delays)
        if err.kind != self.failing:
            hint = OFFLINE_HINT if err.kind in OFFLINE_KINDS else ""
            log.error("Binance: %s: %s (will keep polling)%s", err.kind, err, hint)
            self.failing = err.kind

    async def _drop_invalid_symbols(self) -> None:
        """Ask for each symbol alone to find the ones Binance refuses; the prices the
        others answer with are published like any others."""
        for symbol in list(self.symbols):
            try:
                quotes = await self.client.fetch_prices([symbol])
            except BinanceApiError as err:
                if err.code == INVALID_SYMBOL:
                    self.symbols.remove(symbol)
                    log.error("Binance: symbol %s rejected (%s); no longer polled", symbol, err)
                continue
            except BinanceError as err:
                self._report_failure(err)
                return
            await self._publish_all(quotes)

poller = PricePoller(
    app.binance, app.settings.tick_symbols, send_tick, send_dead_letter,
    Backoff(base=1.0, cap=app.settings.binance_backoff_cap),
)

if app.settings.poll_interval > 0:
    app.timer(app.settings.poll_interval, on_leader=True, name="poll_prices")(poller.poll)
