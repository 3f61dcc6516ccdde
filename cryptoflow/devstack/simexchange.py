"""A local exchange that answers as Binance's REST documentation says, with faults.

Binance is not reachable from test machines, and a newcomer may be offline: this
aiohttp server serves ``GET /api/v3/ticker/price`` (``symbol=``, ``symbols=[...]``
or neither) with string prices on a seeded random walk, Binance's weight header
and ``{code, msg}`` errors. Tests queue faults (429/418 with Retry-After, 5xx,
slow or truncated bodies, wrong shapes, API errors, bad prices) and read back
what was served and when each request came, to prove a client's behaviour.

    python -m cryptoflow.devstack.simexchange --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
START_PRICES = {"BTCUSDT": 67_000.0, "ETHUSDT": 3_500.0, "SOLUSDT": 150.0}
PRICE_PATH = "/api/v3/ticker/price"
KLINES_PATH = "/api/v3/klines"
KLINES_MAX = 1000
MINUTE_MS = 60_000
WEIGHT_SINGLE, WEIGHT_MANY = 2, 4
CLIENT_CLOSED = 499


@dataclass(frozen=True)
class ServedPrice:
    symbol: str
    price: str
    served_at: datetime


@dataclass(frozen=True)
class RequestRecord:
    path: str
    query: dict[str, str]
    at: float  # time.monotonic()
    status: int
    fault: str | None


@dataclass(frozen=True)
class Fault:
    """What the next ticker request gets instead of a normal answer."""

    kind: str
    http_status: int = 200
    retry_after: float | None = None
    seconds: float = 0.0
    code: int = 0
    msg: str = ""
    symbol: str = ""
    price: str = ""

    @classmethod
    def status(cls, status: int, retry_after: float | None = None) -> Fault:
        return cls("status", http_status=status, retry_after=retry_after)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        return cls("delay", seconds=seconds)

    @classmethod
    def truncated(cls) -> Fault:
        return cls("truncated")

    @classmethod
    def wrong_shape(cls) -> Fault:
        return cls("wrong_shape")

    @classmethod
    def api_error(cls, code: int, msg: str, status: int = 400) -> Fault:
        return cls("api_error", http_status=status, code=code, msg=msg)

    @classmethod
    def bad_price(cls, symbol: str, price: str) -> Fault:
        return cls("bad_price", symbol=symbol, price=price)


@dataclass
class _State:
    served: list[ServedPrice] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    violations: list[RequestRecord] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    banned_until: float = 0.0
    halts: list[tuple[int, int]] = field(default_factory=list)  # [start, end) in ms
    weight_minute: int = 0
    weight: int = 0


class SimExchange:
    """The simulated exchange; its records are safe to read from another thread."""

    def __init__(
        self, symbols: Sequence[str] = DEFAULT_SYMBOLS, *, seed: int | None = None,
        start_prices: dict[str, float] | None = None, volatility: float = 0.001,
    ) -> None:
        self.prices = {s: (start_prices or START_PRICES).get(s, 100.0) for s in symbols}
        self.volatility = volatility
        self._random = random.Random(seed)  # noqa: S311  (a random walk, not crypto)
        self._state = _State()
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def served(self) -> list[ServedPrice]:
        with self._lock:
            return list(self._state.served)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._state.requests)

    @property
    def violations(self) -> list[RequestRecord]:
        """Requests that arrived while a Retry-After was still running."""
        with self._lock:
            return list(self._state.violations)

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._state.faults.extend(faults)

    def halt(self, start: datetime, end: datetime) -> None:
        """Trading stopped: no klines for the minutes opening in [start, end), as
        Binance lists none for a halt or before a symbol's listing."""
        with self._lock:
            self._state.halts.append((int(start.timestamp() * 1000),
                                      int(end.timestamp() * 1000)))

    def clear_faults(self) -> None:
        with self._lock:
            self._state.faults.clear()

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(PRICE_PATH, self._ticker_price)
        app.router.add_get(KLINES_PATH, self._klines)
        app.router.add_get("/api/v3/ping", _ping)
        app.router.add_get("/api/v3/time", _server_time)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _ticker_price(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        with self._lock:
            fault = self._state.faults.popleft() if self._state.faults else None
            early = now < self._state.banned_until
        try:
            symbols, weight, single = self._requested(request)
        except _ApiError as err:
            response: web.StreamResponse = web.json_response(
                {"code": err.code, "msg": err.msg}, status=400)
            return self._finish(request, response, now, early, fault=None, weight=1)
        if fault is None or fault.kind == "bad_price":
            answer = self._prices(symbols, single, fault)
            return self._finish(request, answer, now, early, fault, weight)
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            if request.transport is None or request.transport.is_closing():
                # The client gave up waiting: nothing was served (499, as nginx logs it).
                gone = web.Response(status=CLIENT_CLOSED)
                return self._finish(request, gone, now, early, fault, weight)
            answer = self._prices(symbols, single, None)
            return self._finish(request, answer, now, early, fault, weight)
        return self._finish(request, self._fault_response(fault), now, early, fault, weight)

    async def _klines(self, request: web.Request) -> web.StreamResponse:
        """1-minute klines as Binance lists them; the same minute always gets the same
        candle (seeded by symbol and time), so a resumed backfill can be checked."""
        now = time.monotonic()
        with self._lock:
            fault = self._state.faults.popleft() if self._state.faults else None
            early = now < self._state.banned_until
        if fault is not None:
            return self._finish(request, self._fault_response(fault), now, early, fault, 2)
        query = request.query
        try:
            symbol = query["symbol"]
            if symbol not in self.prices:
                raise _ApiError(-1121, "Invalid symbol.")
            if query.get("interval") != "1m":
                raise _ApiError(-1120, "Invalid interval.")
            start = int(query.get("startTime", "0"))
            end = int(query.get("endTime", str(int(time.time() * 1000))))
            limit = min(int(query.get("limit", "500")), KLINES_MAX)
        except (KeyError, ValueError) as err:
            problem = err if isinstance(err, _ApiError) else _ApiError(
                -1102, "Mandatory parameter was not sent, was empty/null, or malformed.")
            response = web.json_response({"code": problem.code, "msg": problem.msg}, status=400)
            return self._finish(request, response, now, early, None, 2)
        first = -(-start // MINUTE_MS) * MINUTE_MS  # the first open time >= startTime
        with self._lock:
            halts = list(self._state.halts)
        traded = (open_ms for open_ms in range(first, end + 1, MINUTE_MS)
                  if not any(a <= open_ms < b for a, b in halts))
        body = [self._kline(symbol, open_ms) for open_ms in islice(traded, limit)]
        return self._finish(request, web.json_response(body), now, early, None, 2)

    def _kline(self, symbol: str, open_ms: int) -> list[Any]:
        rng = random.Random(f"{symbol}/{open_ms}")  # noqa: S311  (a simulation)
        base = START_PRICES.get(symbol, 100.0) * (1 + rng.uniform(-0.02, 0.02))
        open_, close = base * (1 + rng.uniform(-0.001, 0.001)), base
        high = max(open_, close) * (1 + rng.uniform(0, 0.001))
        low = min(open_, close) * (1 - rng.uniform(0, 0.001))
        trades = rng.randint(1, 500)
        return [open_ms, f"{open_:.8f}", f"{high:.8f}", f"{low:.8f}", f"{close:.8f}",
                f"{rng.uniform(1, 100):.8f}", open_ms + MINUTE_MS - 1, "0.0", trades,
                "0.0", "0.0", "0"]

    def _requested(self, request: web.Request) -> tuple[list[str], int, bool]:
        """The symbols asked for, the request's weight, and whether it used ``symbol=``."""
        query = request.query
        if "symbol" in query and "symbols" in query:
            raise _ApiError(-1101, "Too many parameters; expected 'symbol' or 'symbols'.")
        if "symbol" in query:
            symbols, weight = [query["symbol"]], WEIGHT_SINGLE
        elif "symbols" in query:
            try:
                symbols = json.loads(query["symbols"])
            except json.JSONDecodeError:
                symbols = None
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise _ApiError(-1100, "Illegal characters found in parameter 'symbols'; "
                                       "legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]"
                                       "{1,20}\"){0,}){0,1}\\]$'.")
            weight = WEIGHT_MANY
        else:
            symbols, weight = list(self.prices), WEIGHT_MANY
        if any(s not in self.prices for s in symbols):
            raise _ApiError(-1121, "Invalid symbol.")
        return symbols, weight, "symbol" in query

    def _prices(self, symbols: list[str], single: bool, fault: Fault | None) -> web.Response:
        served_at = datetime.now(UTC)
        items = []
        for symbol in symbols:
            price = self._step(symbol)
            if fault is not None and fault.symbol == symbol:
                price = fault.price
            items.append({"symbol": symbol, "price": price})
        with self._lock:
            self._state.served.extend(
                ServedPrice(i["symbol"], i["price"], served_at) for i in items)
        return web.json_response(items[0] if single else items)

    def _step(self, symbol: str) -> str:
        price = self.prices[symbol] * (1 + self._random.gauss(0, self.volatility))
        self.prices[symbol] = max(price, 1e-8)
        return f"{self.prices[symbol]:.8f}"

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        status = fault.http_status
        if fault.kind == "status" and status in (418, 429):
            msg = ("Way too many requests; IP banned until later." if status == 418
                   else "Too many requests; current limit of IP is 6000 per 1 MINUTE.")
            return web.json_response({"code": -1003, "msg": msg}, status=status, headers=headers)
        if fault.kind == "status":
            return web.Response(status=status, headers=headers, content_type="text/html",
                                text=f"<html><body><h1>{status} Error</h1></body></html>")
        if fault.kind == "truncated":
            return web.Response(text='[{"symbol":"BTCUSDT","price":"670', content_type=(
                "application/json"))
        if fault.kind == "wrong_shape":
            return web.json_response({"prices": [], "note": "not what Binance sends"})
        return web.json_response({"code": fault.code, "msg": fault.msg}, status=status)

    def _finish(
        self, request: web.Request, response: web.StreamResponse, at: float, early: bool,
        fault: Fault | None, weight: int,
    ) -> web.StreamResponse:
        minute = int(time.time() // 60)
        with self._lock:
            state = self._state
            if state.weight_minute != minute:
                state.weight_minute, state.weight = minute, 0
            state.weight += weight
            response.headers["X-MBX-USED-WEIGHT-1M"] = str(state.weight)
            record = RequestRecord(request.path, dict(request.query), at, response.status,
                                   fault.kind if fault else None)
            state.requests.append(record)
            if early:
                state.violations.append(record)
            if response.status in (418, 429) and fault is not None and fault.retry_after:
                state.banned_until = at + fault.retry_after
        return response


async def _ping(_: web.Request) -> web.Response:
    return web.json_response({})


async def _server_time(_: web.Request) -> web.Response:
    return web.json_response({"serverTime": int(time.time() * 1000)})


class _ApiError(ValueError):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


class SimExchangeThread:
    """A SimExchange on its own event loop in a background thread, for sync code."""

    def __init__(
        self, *args: Any, host: str = "127.0.0.1", port: int = 0, **kwargs: Any,
    ) -> None:
        self.sim = SimExchange(*args, **kwargs)
        self._address = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return self.sim.url

    def __enter__(self) -> SimExchangeThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(
            self.sim.start(*self._address), self._loop).result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _serve(host: str, port: int, symbols: Sequence[str], seed: int | None) -> None:
    sim = SimExchange(symbols, seed=seed)
    await sim.start(host, port)
    log.warning("simulated Binance at http://%s:%d (symbols %s); Ctrl-C stops it",
                host, sim.port, ",".join(symbols))
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cryptoflow.devstack.simexchange",
                                     description="Serve Binance's price endpoints locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS))
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, symbols, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
