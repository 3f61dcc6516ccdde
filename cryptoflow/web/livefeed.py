"""Live events for browsers: a fan-out hub with one bounded queue per client.

Agents and the feed consumer call ``LiveFeed.publish`` for every event; it never
waits. Each subscriber has its own queue of at most ``maxlen`` events; when a slow
client's queue is full the OLDEST event is dropped (a dashboard wants the newest
price, not a backlog), so no client can stall an agent. A client that disconnects
just unsubscribes: nothing is kept for it. At most ``clients`` subscribe at once
(``full`` says when the next would be one too many), and ``close()`` ends every
subscription, so the worker's stop is not held up by open streams. Pure asyncio,
no I/O.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cryptoflow.records import PriceTick, Trade, format_ts
from cryptoflow.tables.book_state import TopOfBook
from cryptoflow.web.api import json_safe

DEFAULT_QUEUE = 256
DEFAULT_CLIENTS = 100


class Subscription:
    """One client's view of the feed."""

    def __init__(self, maxlen: int) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def push(self, event: dict[str, Any]) -> None:
        if len(self._events) == self._events.maxlen:
            self.dropped += 1  # deque drops the oldest by itself
        self._events.append(event)
        self._ready.set()

    def close(self) -> None:
        """End this subscription: ``next()`` answers None from now on."""
        self.closed = True
        self._ready.set()

    async def next(self) -> dict[str, Any] | None:
        """The oldest queued event, waiting for one if there is none; None once closed."""
        while not self.closed and not self._events:
            self._ready.clear()
            await self._ready.wait()
        return None if self.closed else self._events.popleft()


class LiveFeed:
    """The worker's hub: publish to all current subscribers, at most ``clients``."""

    def __init__(self, maxlen: int = DEFAULT_QUEUE, clients: int = DEFAULT_CLIENTS) -> None:
        self.maxlen = maxlen
        self.clients = clients
        self.subscribers: set[Subscription] = set()
        self.closed = False

    @property
    def full(self) -> bool:
        return len(self.subscribers) >= self.clients

    def publish(self, event: dict[str, Any]) -> None:
        for subscriber in self.subscribers:
            subscriber.push(event)

    def close(self) -> None:
        """End every subscription, now and to come (the worker is stopping)."""
        self.closed = True
        for subscriber in self.subscribers:
            subscriber.close()

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """A new subscription; check ``full`` first (nothing here refuses one)."""
        subscription = Subscription(self.maxlen)
        if self.closed:
            subscription.close()
        self.subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self.subscribers.discard(subscription)


def tick_event(tick: PriceTick) -> dict[str, Any]:
    return {"type": "tick", "symbol": tick.symbol, "price": tick.price, "ts": format_ts(tick.ts)}


def stats_event(symbol: str, window: str, summary: dict[str, Any]) -> dict[str, Any]:
    return {"type": "stats", "symbol": symbol, "window": window, **summary}


def sse_message(event: dict[str, Any]) -> bytes:
    """One Server-Sent Events message: a single ``data:`` line of JSON (null for a
    number that is not finite)."""
    return b"data: " + json.dumps(json_safe(event), separators=(",", ":")).encode() + b"\n\n"


def trades_event(
    symbol: str, trades: Sequence[Trade], candles: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A batch of a symbol's trades, summed: what the dashboard's trade rate needs
    (``trades`` counts raw trades, as the windows and klines do; ``count`` aggregate
    ones), with the 1-minute ``candles`` the batch changed as the candles API shows them,
    so the page's last candle is the recorded one, not a guess from the last price, and
    the last ``price`` (a symbol's price on the page when it has no tick topic)."""
    last = trades[-1]
    return {"type": "trades", "symbol": symbol, "count": len(trades),
            "trades": sum(trade.raw_trades for trade in trades),
            "volume": sum(trade.qty for trade in trades), "price": last.price,
            "ts": format_ts(last.ts), "candles": list(candles)}


def book_event(top: TopOfBook) -> dict[str, Any]:
    return {"type": "book", "symbol": top.symbol, "bid": top.bid, "ask": top.ask,
            "spread_bps": top.spread_bps, "ts": top.ts}
