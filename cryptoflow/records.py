"""The records that flow through the topics, and the one gate every tick passes.

``parse_tick`` turns the raw bytes of a topic message (from our ingest job or any
other producer) into a ``PriceTick`` or raises ``InvalidTick`` with a reason that
goes to the dead letters. It is pure: no broker, no clock of its own.

Wire format of the symbol topics, one JSON object per message, key = symbol::

    {"symbol": "BTCUSDT", "price": 67234.5, "ts": "2026-11-24T00:00:00.123Z",
     "source": "binance-rest"}

``price`` is a JSON number (a decimal string, as Binance sends, is accepted too);
``ts`` is ISO-8601 with a timezone or epoch milliseconds; ``source`` is optional.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from cryptoflow.exceptions import InvalidTick

MAX_TICK_BYTES = 4096
# Event times outside these bounds are dead letters: a far-future ts hangs faust's
# compiled window code (LOCAL-STACK.md), and epoch seconds sent as milliseconds land
# in 1970. Binance opened in 2017.
EARLIEST_TS = datetime(2017, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=1)
# Prices outside these bounds are dead letters: no exchange quotes them, and 1.7e308
# made the variance overflow (stddev Infinity, which is not JSON). Binance quotes
# prices with 8 decimals, so none is below 1e-8; among the dearest quotes, bitcoin in
# Indonesian rupiah is about 1.6e9 at 100,000 USD, 60 times below 1e11, whose square
# (1e22) keeps every sum of the statistics finite by far.
MIN_PRICE = 1e-8
MAX_PRICE = 1e11


class PriceTick(faust.Record, serializer="json", include_metadata=False, isodates=True):
    """One price of one symbol at one instant (UTC, millisecond precision)."""

    symbol: str
    price: float
    ts: datetime
    source: str = "binance-rest"

    def to_wire(self) -> bytes:
        """The documented JSON object, as readable in Kafdrop."""
        return json.dumps(
            {"symbol": self.symbol, "price": self.price, "ts": format_ts(self.ts),
             "source": self.source},
            separators=(",", ":"),
        ).encode()

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document: the original design's ``{symbol, price, ts}``."""
        return {"symbol": self.symbol, "price": self.price, "ts": self.ts}


def format_ts(ts: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, e.g. ``2026-11-24T00:00:00.123Z``."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_millis(ts: datetime) -> datetime:
    """Drop sub-millisecond digits: MongoDB stores milliseconds, so round trips stay exact."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def parse_price(raw: Any) -> float:
    """A price from MIN_PRICE to MAX_PRICE from a JSON number or a decimal string."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidTick(f"price must be a number, got {type(raw).__name__}")
    try:
        price = float(raw)
    except ValueError:
        raise InvalidTick(f"price is not a number: {raw!r:.40}") from None
    if not math.isfinite(price):
        raise InvalidTick(f"price is not finite: {raw!r:.40}")
    if price <= 0:
        raise InvalidTick(f"price must be > 0, got {raw!r:.40}")
    if not MIN_PRICE <= price <= MAX_PRICE:
        raise InvalidTick(
            f"price out of range ({MIN_PRICE:g} to {MAX_PRICE:g}): {raw!r:.40}")
    return price


def parse_ts(raw: Any, now: datetime) -> datetime:
    """A UTC datetime from ISO-8601 with a zone or epoch milliseconds, within sane bounds."""
    if isinstance(raw, bool):
        raise InvalidTick("ts must be an ISO-8601 string or epoch milliseconds, got bool")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise InvalidTick(f"ts is not finite: {raw!r}")
        try:
            ts = datetime.fromtimestamp(raw / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidTick(f"ts out of range: {raw!r}") from None
    elif isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidTick(f"ts is not ISO-8601: {raw!r:.40}") from None
        if ts.tzinfo is None:
            raise InvalidTick(f"ts has no timezone: {raw!r:.40}")
    else:
        raise InvalidTick(
            f"ts must be an ISO-8601 string or epoch milliseconds, got {type(raw).__name__}"
        )
    if not EARLIEST_TS <= ts <= now + LATEST_AHEAD:
        raise InvalidTick(f"ts out of range: {format_ts(ts)}")
    return to_millis(ts.astimezone(UTC))


def parse_tick(value: bytes | None, symbols: Collection[str], now: datetime) -> PriceTick:
    """Validate one message value; ``InvalidTick`` says why it was refused."""
    if value is None:
        raise InvalidTick("empty message (no value)")
    if len(value) > MAX_TICK_BYTES:
        raise InvalidTick(f"message too large: {len(value)} bytes (limit {MAX_TICK_BYTES})")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidTick(f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidTick(f"expected a JSON object, got {type(data).__name__}")
    for name in ("symbol", "price", "ts"):
        if name not in data:
            raise InvalidTick(f"missing field {name!r}")
    symbol = data["symbol"]
    if not isinstance(symbol, str):
        raise InvalidTick(f"symbol must be a string, got {type(symbol).__name__}")
    if symbol not in symbols:
        raise InvalidTick(f"unknown symbol {symbol!r:.40}")
    source = data.get("source", "external")
    if not isinstance(source, str):
        raise InvalidTick(f"source must be a string, got {type(source).__name__}")
    return PriceTick(
        symbol=symbol, price=parse_price(data["price"]), ts=parse_ts(data["ts"], now),
        source=source,
    )
