"""A small client for Binance's public REST endpoints: prices, klines, aggregate trades.

``BinanceClient.fetch_prices`` sends ONE request for all symbols
(``GET /api/v3/ticker/price?symbols=[...]``, weight 4) and returns the raw
quotes, or raises one typed ``BinanceError`` per kind of failure.

The client is the worker's one REST budget: the poller, every gap fill and the
backfill send through it, one request at a time. Binance counts request weight and
429s per IP, so: after a 429 or 418 it refuses, without any request, until
``Retry-After`` has passed (Binance bans IPs that keep calling: 418), and because
only one request is ever in flight, the 429 is known before anything else is sent;
a request whose weight would take the minute's used weight (Binance's
``X-MBX-USED-WEIGHT-1M``, the IP's total) past ``weight_budget`` waits for the next
minute. It keeps one aiohttp session for its life; call ``close()`` when done.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from cryptoflow.exceptions import (
    BinanceApiError,
    BinanceBadResponse,
    BinanceRateLimited,
    BinanceServerError,
    BinanceTimeout,
    BinanceUnreachable,
    InvalidRecord,
)
from cryptoflow.records import load_json

PRICE_PATH = "/api/v3/ticker/price"
KLINES_PATH = "/api/v3/klines"
KLINES_MAX = 1000  # Binance's largest page
AGG_TRADES_PATH = "/api/v3/aggTrades"
AGG_TRADES_MAX = 1000  # Binance's largest page
AGG_TRADES_SPAN_MS = 3_600_000  # the most Binance allows between startTime and endTime
AGG_TRADES_WEIGHT = 4
KLINE_FIELDS = 12  # a kline row's length, its last field unused ("ignore")
KLINES_WEIGHT = 2
PRICE_WEIGHT, PRICES_WEIGHT = 2, 4  # one symbol, several
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
# Binance sends Retry-After with every 429/418; if a proxy drops it, wait this long.
DEFAULT_RETRY_AFTER = 60.0
# The simulated exchange (cryptoflow/devstack/simexchange.py) marks every answer with
# this header, so a worker can say that its prices are not Binance's; Binance never sends it.
SIMULATED_HEADER = "X-Cryptoflow-Simulated-Exchange"


@dataclass(frozen=True)
class Kline:
    """One candle as Binance's klines endpoint lists it, all but the last (unused) of its
    12 fields: times in epoch ms, ``close_time`` the minute's last millisecond; volumes in
    the base asset, quote volumes in the quote asset; ``trades`` counts raw trades (``n``);
    the taker buy volumes sum the trades whose buyer was the taker.

    The numbers are floats parsed from Binance's decimal strings, like a candle recorded
    from the trades (tables/trade_candles.py), so the two compare field by field:
    ``open``..``close`` and ``trades`` are equal. ``volume`` and ``taker_buy_volume`` are
    exact sums of quantities of at most 8 places that Binance prints unrounded, and the
    candle's are the same exact sums converted once to a float: the two floats are equal
    (==). ``quote_volume`` and ``taker_buy_quote_volume`` are sums of price * quantity of
    up to 16 places that Binance prints rounded to 8, where the candle keeps the unrounded
    sum: they agree within one unit of the 8th place and the float's own rounding,
    ``math.isclose(candle, kline, rel_tol=1e-15, abs_tol=1e-8)``, not exactly."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    quote_volume: float
    trades: int
    taker_buy_volume: float
    taker_buy_quote_volume: float


@dataclass(frozen=True)
class Quote:
    """One symbol's price exactly as Binance sent it (a decimal string)."""

    symbol: str
    price: str


class BinanceClient:
    """Fetches current prices; one instance per worker, one session per instance."""

    def __init__(self, base_url: str, timeout: float, weight_budget: int = 5000) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        self.weight_budget = weight_budget
        self.used_weight: int | None = None
        self._turn = asyncio.Lock()  # one request in flight
        self.simulated: bool | None = None  # known after the first answer
        self._session: aiohttp.ClientSession | None = None
        self._not_before = 0.0  # time.monotonic() before which no request may go out
        self._limit_status = 429  # the status that set _not_before (429 or 418)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def retry_in(self) -> float:
        """Seconds left of a Retry-After; 0 when a request may be sent."""
        return max(0.0, self._not_before - time.monotonic())

    async def fetch_prices(self, symbols: Sequence[str]) -> list[Quote]:
        """Current prices of ``symbols`` in one request (one ``symbol=`` if only one)."""
        if len(symbols) == 1:
            params, weight = {"symbol": symbols[0]}, PRICE_WEIGHT
        else:
            params = {"symbols": json.dumps(list(symbols), separators=(",", ":"))}
            weight = PRICES_WEIGHT
        body = await self._get_json(PRICE_PATH, params, weight)
        items = body if isinstance(body, list) else [body]
        return [self._quote(item) for item in items]

    async def fetch_klines(
        self, symbol: str, start_ms: int, end_ms: int, limit: int = KLINES_MAX,
    ) -> list[Kline]:
        """Up to ``limit`` 1-minute klines opening in [start_ms, end_ms], oldest first."""
        body = await self._get_json(KLINES_PATH, {
            "symbol": symbol, "interval": "1m", "startTime": str(start_ms),
            "endTime": str(end_ms), "limit": str(limit),
        }, KLINES_WEIGHT)
        if not isinstance(body, list):
            raise BinanceBadResponse(f"expected a list of klines, got {body!r:.200}")
        return [_kline(row) for row in body]

    async def fetch_agg_trades(
        self, symbol: str, from_id: int, limit: int = AGG_TRADES_MAX,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` aggregate trades of ``symbol`` with ids from ``from_id``, oldest
        first, as Binance lists them (validated by the caller, item by item)."""
        return await self._agg_trades(symbol, {"fromId": str(from_id)}, limit)

    async def fetch_agg_trades_between(
        self, symbol: str, start_ms: int, end_ms: int, limit: int = AGG_TRADES_MAX,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` aggregate trades of ``symbol`` with trade times in [start_ms,
        end_ms] (epoch ms, both included), oldest first, as ``fetch_agg_trades`` returns
        them. Binance refuses a range longer than ``AGG_TRADES_SPAN_MS`` (an hour), so such
        a range is a ``ValueError`` here, with no request sent. A range with more than
        ``limit`` trades gives its first ``limit``: the rest follow from the last id with
        ``fetch_agg_trades``."""
        if not 0 <= end_ms - start_ms <= AGG_TRADES_SPAN_MS:
            raise ValueError(f"aggregate trades between {start_ms} and {end_ms} ms: the end "
                             f"must be 0 to {AGG_TRADES_SPAN_MS} ms after the start")
        return await self._agg_trades(
            symbol, {"startTime": str(start_ms), "endTime": str(end_ms)}, limit)

    async def _agg_trades(
        self, symbol: str, selection: dict[str, str], limit: int,
    ) -> list[dict[str, Any]]:
        """One aggTrades request for the trades ``selection`` (its parameters) names: a
        list of objects, or ``BinanceBadResponse``."""
        body = await self._get_json(AGG_TRADES_PATH, {
            "symbol": symbol, **selection, "limit": str(limit),
        }, AGG_TRADES_WEIGHT)
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise BinanceBadResponse(f"expected a list of aggregate trades, got {body!r:.200}")
        return body

    async def _spend_weight(self, weight: int) -> None:
        """Wait for the next minute if ``weight`` more would pass ``weight_budget`` of the
        weight Binance says this IP used in the current minute (its header)."""
        if self.used_weight is not None and self.used_weight + weight > self.weight_budget:
            await asyncio.sleep(60.0 - time.time() % 60.0 + 0.5)
            self.used_weight = None

    async def _get_json(self, path: str, params: dict[str, str], weight: int) -> object:
        """One request, when the budget allows it: never inside Retry-After (refused at
        once, with the time left), never past the minute's weight budget (waited for),
        never beside another request of this client."""
        async with self._turn:
            wait = self.retry_in()
            if wait > 0:
                raise BinanceRateLimited(
                    self._limit_status, wait, "still inside Retry-After; no request sent")
            await self._spend_weight(weight)
            return await self._send(path, params)

    async def _send(self, path: str, params: dict[str, str]) -> object:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.get(self.base_url + path, params=params) as response:
                self._note_weight(response)
                text = await response.text()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError as err:
            raise BinanceTimeout(f"no answer within {self.timeout.sock_read:g}s") from err
        except aiohttp.ClientPayloadError as err:
            raise BinanceBadResponse(f"body cut off: {err}") from err
        except aiohttp.ClientError as err:
            raise BinanceUnreachable(f"{type(err).__name__}: {err}") from err
        if status in (418, 429):
            delay = _retry_after_seconds(retry_after)
            self._not_before = time.monotonic() + delay
            self._limit_status = status
            raise BinanceRateLimited(status, delay, _error_text(text))
        if status >= 500:
            raise BinanceServerError(f"HTTP {status}: {text[:200]!r}")
        try:
            body = load_json(text)
        except InvalidRecord as err:
            raise BinanceBadResponse(f"HTTP {status}: {err.reason}: {text[:200]!r}") from None
        if isinstance(body, dict) and "code" in body and "msg" in body:
            raise BinanceApiError(status, _int(body["code"]), str(body["msg"]))
        if status != 200:
            raise BinanceBadResponse(f"HTTP {status}: {text[:200]!r}")
        return body

    def _note_weight(self, response: aiohttp.ClientResponse) -> None:
        self.simulated = SIMULATED_HEADER in response.headers
        weight = response.headers.get(WEIGHT_HEADER)
        if weight is not None and weight.isdigit():
            self.used_weight = int(weight)

    @staticmethod
    def _quote(item: object) -> Quote:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("symbol"), str)
            or not isinstance(item.get("price"), str)
        ):
            raise BinanceBadResponse(f"expected {{symbol, price}} strings, got {item!r:.200}")
        return Quote(symbol=item["symbol"], price=item["price"])


def _kline(row: object) -> Kline:
    """A kline row as Binance lists it: ``KLINE_FIELDS`` values, times and the trade
    count as JSON integers, prices and volumes as decimal strings of finite numbers not
    below 0. Anything else is a ``BinanceBadResponse``."""
    if not isinstance(row, list) or len(row) < KLINE_FIELDS:
        raise BinanceBadResponse(
            f"expected a kline of {KLINE_FIELDS} fields, got {row!r:.200}")
    return Kline(
        open_time=_kline_int(row, 0), open=_kline_number(row, 1), high=_kline_number(row, 2),
        low=_kline_number(row, 3), close=_kline_number(row, 4), volume=_kline_number(row, 5),
        close_time=_kline_int(row, 6), quote_volume=_kline_number(row, 7),
        trades=_kline_int(row, 8), taker_buy_volume=_kline_number(row, 9),
        taker_buy_quote_volume=_kline_number(row, 10),
    )


def _kline_int(row: list[Any], index: int) -> int:
    value: object = row[index]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BinanceBadResponse(f"kline field {index} is not a count or time: {row!r:.200}")
    return value


def _kline_number(row: list[Any], index: int) -> float:
    value = row[index]
    try:
        number = float(value) if isinstance(value, str) else math.nan
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number >= 0):
        raise BinanceBadResponse(f"kline field {index} is not a decimal string: {row!r:.200}")
    return number


def _retry_after_seconds(header: str | None) -> float:
    try:
        seconds = float(header) if header is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return max(0.0, seconds) if math.isfinite(seconds) else DEFAULT_RETRY_AFTER


def _error_text(text: str) -> str:
    try:
        body = load_json(text)
    except InvalidRecord:
        return text[:200]
    return str(body.get("msg", body)) if isinstance(body, dict) else text[:200]


def _int(value: object) -> int:
    try:
        code: int = int(value)  # type: ignore[call-overload]  # any JSON value: what int() refuses is answered below
        return code
    except (TypeError, ValueError):
        raise BinanceBadResponse(f"error code is not a number: {value!r:.40}") from None

