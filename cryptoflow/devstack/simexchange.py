"""A local exchange that answers as Binance's REST and WebSocket documentation says, with
faults.

Binance is not reachable from test machines, and a newcomer may be offline: this
aiohttp server answers with Binance's weight header and ``{code, msg}`` errors. From
its start it generates ONE market per symbol (``market.SymbolMarket``: one seeded
price process) and serves it four ways that agree: ``GET /api/v3/ticker/price``
(``symbol=``, ``symbols=[...]`` or neither: the last trade's price), the combined
stream ``/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker`` (trades and a top of
book that straddles the last trade, pushed as they happen), ``GET /api/v3/aggTrades``
and ``GET /api/v3/klines`` (before the history began, the same process drawn
backwards from the first trade). ``write_archive`` writes a day of its aggTrades or
klines as data.binance.vision publishes them (``sources.archives``), with differences
planted on request (``ArchivePlant``). Tests queue faults (REST: 429/418 with Retry-After, 5xx,
slow or truncated bodies, wrong shapes, API errors, bad prices; streams: dropped or
stalled connections, skipped messages, refused upgrades, a server-shutdown close,
malformed frames, any frames a hostile exchange could send, ping floods) and read back
what was served, when each request came and what each connection got, to prove a
client's behaviour.

    python -m cryptoflow.devstack.simexchange --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from cryptoflow.devstack.market import (
    VOLATILITY,
    AggTrade,
    BookQuote,
    SymbolMarket,
    decimal_string,
)
from cryptoflow.exceptions import ArchiveError
from cryptoflow.sources.archives import (
    CHECKSUM_SUFFIX,
    ArchiveKind,
    ArchiveKline,
    ArchiveName,
    ArchiveTrade,
    agg_trade_row,
    kline_row,
    write_archive,
    write_checksum,
)
from cryptoflow.sources.binance import SIMULATED_HEADER

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
START_PRICES = {"BTCUSDT": 67_000.0, "ETHUSDT": 3_500.0, "SOLUSDT": 150.0}
PRICE_PATH = "/api/v3/ticker/price"
KLINES_PATH = "/api/v3/klines"
AGG_TRADES_PATH = "/api/v3/aggTrades"
STREAM_PATH = "/stream"
# data.binance.vision's layout of daily files: .../aggTrades/BTCUSDT/BTCUSDT-aggTrades-DAY.zip
# and .../klines/BTCUSDT/1m/BTCUSDT-1m-DAY.zip, each also with .CHECKSUM
ARCHIVE_PATH = r"/data/spot/daily/{kind:aggTrades|klines}/{symbol}/{file:(1m/)?[^/]+}"
KLINES_MAX = AGG_TRADES_MAX = 1000
AGG_TRADES_DEFAULT = 500
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
# How aggTrades lists a trade Binance marks invalid (archives write it so too).
INVALID_TRADE = {"p": "0.00000000", "q": "0.00000000", "f": -1, "l": -1}
PLANTED_DIGEST = "0" * 64  # a sha256 no archive has
WEIGHT_SINGLE, WEIGHT_MANY, WEIGHT_KLINES, WEIGHT_AGG_TRADES = 2, 4, 2, 4
CLIENT_CLOSED = 499
# The stream side, as Binance documents it.
STREAM_KINDS = ("aggTrade", "bookTicker")
MAX_STREAMS = 1024
MAX_INCOMING_PER_SECOND = 5
MAX_ATTEMPTS, ATTEMPT_WINDOW = 300, 300.0
STEP = 0.05  # seconds between generation steps: trades reach the stream this late at most
CLOSE_TIMEOUT = 2.0  # how long a close waits for the client's close frame
SEND_QUEUE = 1000  # generation steps a connection may fall behind before it is dropped
RECORDS_KEPT = 10_000  # connection, attempt and violation records kept (newest)
MAX_CLIENT_FRAME = 64 * 1024
MAX_REQUEST_LINE = 64 * 1024  # 1024 stream names fit in the URL


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
    """What the next REST request to one of ``paths`` gets instead of a normal answer
    (by default the price and klines endpoints, as before aggTrades existed; target
    others with ``at``, e.g. ``Fault.status(429, retry_after=2).at(AGG_TRADES_PATH)``)."""

    kind: str
    http_status: int = 200
    retry_after: float | None = None
    seconds: float = 0.0
    code: int = 0
    msg: str = ""
    symbol: str = ""
    price: str = ""
    paths: tuple[str, ...] = (PRICE_PATH, KLINES_PATH)

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
        return cls("bad_price", symbol=symbol, price=price, paths=(PRICE_PATH,))

    def at(self, *paths: str) -> Fault:
        """The same fault, for the next request to one of ``paths`` instead."""
        return dataclasses.replace(self, paths=paths)


@dataclass(frozen=True)
class StreamFault:
    """What the stream side does next. Faults on open connections (drop, stall,
    shutdown, malformed) wait until one is open; the others apply at once."""

    kind: str
    seconds: float = 0.0
    count: int = 0
    symbol: str = ""
    frames: tuple[bytes, ...] = ()

    @classmethod
    def drop_connection(cls) -> StreamFault:
        """Every open connection's TCP closed, no close frame."""
        return cls("drop")

    @classmethod
    def skip_trades(cls, symbol: str, count: int) -> StreamFault:
        """The next ``count`` aggTrade messages of ``symbol`` are not sent (the trades
        happen: aggTrades and klines have them)."""
        return cls("skip", count=count, symbol=symbol)

    @classmethod
    def stall(cls, seconds: float) -> StreamFault:
        """No data and no pings on the open connections for ``seconds``; what happens
        meanwhile is never sent on them."""
        return cls("stall", seconds=seconds)

    @classmethod
    def refuse_connections(cls, seconds: float) -> StreamFault:
        """Upgrades answered HTTP 503 for ``seconds``."""
        return cls("refuse", seconds=seconds)

    @classmethod
    def shutdown(cls) -> StreamFault:
        """Every open connection closed with 1001 "server shutdown"."""
        return cls("shutdown")

    @classmethod
    def frames_of(cls, *frames: bytes) -> StreamFault:
        """These text frames to each open connection, as they are: what a hostile or
        broken exchange sends (nested or oversized JSON, ids far off, huge integers)."""
        return cls("frames", frames=frames)

    @classmethod
    def ping_flood(cls, count: int) -> StreamFault:
        """``count`` pings at once to each open connection, each with its own payload."""
        return cls("pings", count=count)

    @classmethod
    def malformed(cls, count: int) -> StreamFault:
        """``count`` bad frames to each open connection: not JSON, no "data", an unknown
        event type, an aggTrade with a price that is no number (in turn)."""
        return cls("malformed", count=count)


@dataclass(frozen=True)
class ArchivePlant:
    """Differences ``SimExchange.write_archive`` plants in an archive for a test to find:
    rows left out (aggregate trades by id, klines by open time), aggregate trades written
    with another quantity (by id), a CHECKSUM file that does not match the zip."""

    missing: frozenset[int] = frozenset()
    changed_qty: Mapping[int, str] = field(default_factory=dict)
    bad_checksum: bool = False

    def trades(self, trades: Iterable[ArchiveTrade]) -> list[ArchiveTrade]:
        return [dataclasses.replace(trade, qty=self.changed_qty.get(trade.agg_id, trade.qty))
                for trade in trades if trade.agg_id not in self.missing]

    def klines(self, klines: Iterable[ArchiveKline]) -> list[ArchiveKline]:
        return [kline for kline in klines if kline.open_time_ms not in self.missing]


@dataclass(frozen=True)
class AppliedStreamFault:
    fault: StreamFault
    at: float  # time.monotonic()
    connections: int  # how many open connections it hit


@dataclass(frozen=True)
class ConnectionRecord:
    id: int
    streams: tuple[str, ...]
    opened_at: float  # time.monotonic()
    closed_at: float | None
    messages_sent: int  # data frames (trades, book updates, malformed ones)
    frames_received: int  # every frame from the client: pings, pongs, text
    pongs: int  # pongs that answered a ping of ours
    close_reason: str | None


@dataclass(frozen=True)
class ConnectionAttempt:
    at: float  # time.monotonic()
    streams: int  # how many stream names were asked for
    status: int  # 101 accepted, 400 refused stream names, 503 refused by a fault


@dataclass(frozen=True)
class StreamViolation:
    kind: str  # "messages": > 5 frames in a second; "attempts": > 300 in 300 s
    at: float  # time.monotonic()
    connection: int | None
    count: int


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
    stream_faults: deque[StreamFault] = field(default_factory=deque)
    applied: deque[AppliedStreamFault] = field(
        default_factory=lambda: deque(maxlen=RECORDS_KEPT))
    closed: deque[ConnectionRecord] = field(default_factory=lambda: deque(maxlen=RECORDS_KEPT))
    attempts: deque[ConnectionAttempt] = field(
        default_factory=lambda: deque(maxlen=RECORDS_KEPT))
    stream_violations: deque[StreamViolation] = field(
        default_factory=lambda: deque(maxlen=RECORDS_KEPT))


class _Connection:
    """One open /stream connection; its writer task sends what the queue holds, in order."""

    def __init__(
        self, ident: int, ws: web.WebSocketResponse, request: web.Request,
        streams: tuple[str, ...], opened_at: float,
    ) -> None:
        self.id, self.ws, self.request, self.streams = ident, ws, request, list(streams)
        self.opened_at = opened_at
        self.queue: asyncio.Queue[tuple[WSMsgType, list[bytes]]] = asyncio.Queue(SEND_QUEUE)
        self.sent = self.received = self.pongs = 0
        self.close_reason: str | None = None
        self.stalled_until = 0.0
        self.last_ping = opened_at
        self.pings: set[bytes] = set()  # payloads of the pings not answered yet
        self.unanswered_since: float | None = None
        self.window, self.window_frames = 0, 0

    def record(self, closed_at: float | None) -> ConnectionRecord:
        return ConnectionRecord(self.id, tuple(self.streams), self.opened_at, closed_at, self.sent,
                                self.received, self.pongs, self.close_reason)


class SimExchange:
    """The simulated exchange; its records are safe to read from another thread.

    ``trade_rate``: mean aggregate trades per second per symbol; ``book_rate``: book
    updates per second per symbol; ``trade_retention``: trades kept per symbol (older
    ones are not served by aggTrades); ``ping_interval``, ``pong_timeout`` and
    ``max_connection_age`` (seconds) are Binance's 20 s, 60 s and 24 h by default;
    ``history``: seconds of trades that already happened when the server starts (so
    closed minutes and past trades exist at once); ``volatility``: the standard
    deviation of a minute's log return in an ordinary spell (see ``market``)."""

    def __init__(
        self, symbols: Sequence[str] = DEFAULT_SYMBOLS, *, seed: int | None = None,
        start_prices: dict[str, float] | None = None, volatility: float = VOLATILITY,
        trade_rate: float = 5.0, book_rate: float = 5.0, trade_retention: int = 200_000,
        ping_interval: float = 20.0, pong_timeout: float = 60.0,
        max_connection_age: float = 86_400.0, history: float = 0.0,
    ) -> None:
        self._start_prices = {s: (start_prices or START_PRICES).get(s, 100.0) for s in symbols}
        self.volatility = volatility
        self.seed = seed
        self.trade_rate, self.book_rate, self.trade_retention = (
            trade_rate, book_rate, trade_retention)
        self.ping_interval, self.pong_timeout = ping_interval, pong_timeout
        self.max_connection_age = max_connection_age
        self.history = history
        self._to_lose: dict[str, int] = {}  # trades still to lose, by symbol
        self._lost: dict[str, set[int]] = {}  # ids neither streamed nor listed, by symbol
        self._state = _State()
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._markets: dict[str, SymbolMarket] = {}
        self._open: dict[int, _Connection] = {}
        self._subscribers: dict[str, set[_Connection]] = {}
        self._skips: dict[str, int] = {}
        self._refuse_until = 0.0
        self._attempt_times: deque[float] = deque(maxlen=MAX_ATTEMPTS + 1)
        self._next_connection = 1
        self._generator: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[bool]] = set()
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

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

    def agg_trades(self, symbol: str) -> list[dict[str, Any]]:
        """Every trade of ``symbol`` generated so far and still kept, as aggTrades lists
        them (those marked invalid too, not those lost), oldest first (empty before the
        server started)."""
        self._known(symbol)
        with self._lock:
            market = self._markets.get(symbol)
            return self._as_listed(symbol, self._listed(symbol, market.trades())) if market \
                else []

    def klines(
        self, symbol: str, start_ms: int, end_ms: int, limit: int | None = None,
    ) -> list[list[Any]]:
        """The 1-minute klines of ``symbol`` opening in [start_ms, end_ms], as klines lists
        them: of the first ``limit`` minutes (all without), those not halted, begun and
        still kept (empty before the server started)."""
        self._known(symbol)
        first = -(-start_ms // MINUTE_MS) * MINUTE_MS  # the first open time >= start_ms
        with self._lock:
            halts = list(self._state.halts)
        traded = (open_ms for open_ms in range(first, end_ms + 1, MINUTE_MS)
                  if not any(a <= open_ms < b for a, b in halts))
        opens = list(islice(traded, limit))
        with self._lock:
            market = self._markets.get(symbol)
            return [row for row in map(market.kline, opens) if row is not None] if market else []

    def write_archive(
        self, symbol: str, kind: ArchiveKind, day: date, directory: Path, *,
        plant: ArchivePlant | None = None,
    ) -> Path:
        """Write the daily archive of ``symbol``'s ``kind`` for the UTC ``day`` in
        ``directory`` as data.binance.vision lays it out, with its CHECKSUM file, and
        return the zip's path. It holds what the exchange has of that day: the aggregate
        trades still kept, as aggTrades lists them, or the klines of the minutes that have
        one, as klines lists them; times in the day's unit (``archives``). ``plant``
        plants differences for a test to find."""
        name = ArchiveName.daily(symbol, kind, day)
        plant = plant or ArchivePlant()
        start_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        end_ms = start_ms + DAY_MS - 1
        if kind == "aggTrades":
            self._known(symbol)
            with self._lock:
                market = self._markets.get(symbol)
                listed = self._as_listed(symbol, market.between(
                    start_ms, end_ms, self.trade_retention)) if market else []
            trades = plant.trades(map(ArchiveTrade.from_fields, listed))
            rows = [agg_trade_row(trade, day) for trade in trades]
        else:
            klines = plant.klines(map(ArchiveKline.from_rest, self.klines(
                symbol, start_ms, end_ms)))
            rows = [kline_row(kline, day) for kline in klines]
        path = write_archive(directory, name, rows)
        if plant.bad_checksum:
            write_checksum(path, PLANTED_DIGEST)
        return path

    async def _archive(self, request: web.Request) -> web.StreamResponse:
        """A daily archive file (or its CHECKSUM) at data.binance.vision's path, made of
        what the exchange has of that day (for today: so far)."""
        file = request.match_info["file"].rsplit("/", 1)[-1]
        checksum = file.endswith(CHECKSUM_SUFFIX)
        try:
            name = ArchiveName.parse(file.removesuffix(CHECKSUM_SUFFIX))
            if (name.period, name.symbol, name.kind) != (
                    "daily", request.match_info["symbol"], request.match_info["kind"]):
                raise ArchiveError(f"not a daily file of {request.match_info['symbol']}")
            self._known(name.symbol)
        except (ArchiveError, ValueError) as err:
            raise web.HTTPNotFound(text=str(err)) from None
        body = await asyncio.to_thread(self._archive_bytes, name, checksum)
        return web.Response(body=body, content_type="application/octet-stream")

    def _archive_bytes(self, name: ArchiveName, checksum: bool) -> bytes:
        with tempfile.TemporaryDirectory() as directory:
            path = self.write_archive(name.symbol, name.kind, name.day, Path(directory))
            return (path.with_name(name.checksum_name) if checksum else path).read_bytes()

    def _known(self, symbol: str) -> None:
        if symbol not in self._start_prices:
            raise ValueError(f"unknown symbol {symbol!r}")

    def _listed(self, symbol: str, trades: list[AggTrade]) -> list[AggTrade]:
        """``trades`` but those the exchange lost (``lose``). Called with the lock held."""
        lost = self._lost.get(symbol)
        return [t for t in trades if t.agg_id not in lost] if lost else trades

    def _as_listed(self, symbol: str, trades: list[AggTrade]) -> list[dict[str, Any]]:
        """``trades`` as aggTrades lists them: one Binance marks invalid with price and
        quantity 0 and first and last trade id -1. Called with the lock held."""
        invalid = self._markets[symbol].invalid_ids
        return [{**t.rest(), **INVALID_TRADE} if t.agg_id in invalid else t.rest()
                for t in trades]

    @property
    def connections(self) -> list[ConnectionRecord]:
        """Every /stream connection (the newest closed ones and all open), by id."""
        with self._lock:
            records = list(self._state.closed)
            records += [conn.record(None) for conn in self._open.values()]
        return sorted(records, key=lambda r: r.id)

    @property
    def connection_attempts(self) -> list[ConnectionAttempt]:
        with self._lock:
            return list(self._state.attempts)

    @property
    def stream_violations(self) -> list[StreamViolation]:
        with self._lock:
            return list(self._state.stream_violations)

    @property
    def applied_stream_faults(self) -> list[AppliedStreamFault]:
        with self._lock:
            return list(self._state.applied)

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._state.faults.extend(faults)

    def inject_stream(self, *faults: StreamFault) -> None:
        for fault in faults:
            if fault.kind == "skip" and fault.symbol not in self._start_prices:
                raise ValueError(f"unknown symbol {fault.symbol!r}")
        with self._lock:
            self._state.stream_faults.extend(faults)

    def halt(self, start: datetime, end: datetime) -> None:
        """Trading stopped: no klines for the minutes opening in [start, end), as
        Binance lists none for a halt or before a symbol's listing."""
        with self._lock:
            self._state.halts.append((int(start.timestamp() * 1000),
                                      int(end.timestamp() * 1000)))

    def mark_invalid(self, symbol: str, count: int) -> None:
        """The next ``count`` trades of ``symbol`` are ones Binance marks invalid: never
        sent on the stream, served by aggTrades with price and quantity 0 and first and
        last trade id -1; they count in no kline. The exchange must be started."""
        with self._lock:
            self._markets[symbol].invalidate(count)

    def lose(self, symbol: str, count: int) -> None:
        """The next ``count`` trades of ``symbol`` happen (klines and archive files have
        them) but are neither streamed nor listed by aggTrades: a hole in the exchange's
        REST history, as people have found in Binance's, which no fill can close."""
        with self._lock:
            self._to_lose[symbol] = self._to_lose.get(symbol, 0) + count

    def lost_ids(self, symbol: str) -> set[int]:
        with self._lock:
            return set(self._lost.get(symbol, ()))

    def invalid_ids(self, symbol: str) -> set[int]:
        with self._lock:
            market = self._markets.get(symbol)
            return set(market.invalid_ids) if market else set()

    def flood(self, seconds: float, factor: float) -> None:
        """Every symbol trades ``factor`` times as often for ``seconds`` from now: genuine
        trades, on the stream, in aggTrades and in the klines alike."""
        until_ms = int((time.time() + seconds) * 1000)
        with self._lock:
            for market in self._markets.values():
                market.flood(until_ms, factor)

    def quiet(self, seconds: float) -> None:
        """No symbol trades for ``seconds`` from now; book tickers and pings go on, so the
        streams stay up with nothing to record (a market pausing)."""
        until_ms = int((time.time() + seconds) * 1000)
        with self._lock:
            for market in self._markets.values():
                market.quiet(until_ms)

    def clear_faults(self) -> None:
        with self._lock:
            self._state.faults.clear()
            self._state.stream_faults.clear()

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(PRICE_PATH, self._ticker_price)
        app.router.add_get(KLINES_PATH, self._klines)
        app.router.add_get(AGG_TRADES_PATH, self._agg_trades)
        app.router.add_get(STREAM_PATH, self._stream)
        app.router.add_get(ARCHIVE_PATH, self._archive)
        app.router.add_get("/api/v3/ping", _ping)
        app.router.add_get("/api/v3/time", _server_time)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve; the trade history begins at the first start, ``history`` seconds back
        (a restart goes on with it)."""
        if not self._markets:
            now_ms = int(time.time() * 1000)
            with self._lock:
                self._markets = {s: SymbolMarket(
                    s, self._start_prices[s], now_ms - int(self.history * 1000),
                    seed=self.seed, trade_rate=self.trade_rate, book_rate=self.book_rate,
                    retention=self.trade_retention, volatility=self.volatility)
                    for s in self._start_prices}
                for market in self._markets.values():  # the past, before anyone connects
                    market.advance(now_ms)
        self._runner = web.AppRunner(self.make_app(), access_log=None,
                                     max_line_size=MAX_REQUEST_LINE)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # _server is set once start() returned
        self._generator = asyncio.create_task(self._generate(), name="simexchange-generator")
        self._generator.add_done_callback(_report_crash)
        return self.port

    async def stop(self) -> None:
        if self._generator is not None:
            self._generator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._generator
            self._generator = None
        for conn in list(self._open.values()):
            self._close(conn, 1001, "server stopped")
        if self._closing:
            await asyncio.wait(self._closing)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- REST ---------------------------------------------------------------------------

    async def _ticker_price(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_rest(request, self._ticker_answer, error_weight=1)

    def _ticker_answer(self, request: web.Request) -> tuple[int, _Build]:
        symbols, weight, single = self._requested(request)
        return weight, lambda fault: self._prices(symbols, single, fault)

    async def _klines(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_rest(request, self._klines_answer, WEIGHT_KLINES)

    def _klines_answer(self, request: web.Request) -> tuple[int, _Build]:
        """1-minute klines as Binance lists them: from the trades for the minutes of the
        history, and before it the market's past walk (the same candle for the same
        minute every time, so a resumed backfill can be checked)."""
        query = request.query
        symbol = self._symbol(query)
        if query.get("interval") != "1m":
            raise _ApiError(-1120, "Invalid interval.")
        start = _whole(query, "startTime", 0)
        end = _whole(query, "endTime", int(time.time() * 1000))
        limit = min(_whole(query, "limit", 500), KLINES_MAX)
        return WEIGHT_KLINES, lambda _: web.json_response(
            self.klines(symbol, start, end, limit))

    async def _agg_trades(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_rest(request, self._agg_trades_answer, WEIGHT_AGG_TRADES)

    def _agg_trades_answer(self, request: web.Request) -> tuple[int, _Build]:
        """``fromId``: trades with id >= it (from the oldest kept if it is older);
        ``startTime``/``endTime``: trades in that closed range (at most an hour); neither:
        the latest. ``limit`` 1..1000, 500 if not sent."""
        query = request.query
        symbol = self._symbol(query)
        from_id = _whole(query, "fromId", None)
        start, end = _whole(query, "startTime", None), _whole(query, "endTime", None)
        limit = _whole(query, "limit", AGG_TRADES_DEFAULT)
        if not 1 <= limit <= AGG_TRADES_MAX:
            raise _ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        if from_id is not None and (start is not None or end is not None):
            raise _ApiError(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and not 0 <= end - start <= HOUR_MS:
            raise _ApiError(-1127, "More than 1 hours between startTime and endTime.")
        with self._lock:
            market = self._markets[symbol]
            if from_id is not None:
                trades = market.from_id(from_id, limit)
            elif start is None and end is None:
                trades = market.latest(limit)
            else:
                trades = market.between(start, end, limit)
            body = self._as_listed(symbol, self._listed(symbol, trades))
        return WEIGHT_AGG_TRADES, lambda _: web.json_response(body)

    async def _serve_rest(
        self, request: web.Request, parse: Callable[[web.Request], tuple[int, _Build]],
        error_weight: int,
    ) -> web.StreamResponse:
        """Answer ``request``: a 400 for bad parameters, else the next fault queued for this
        path if any, else the normal answer ``parse`` prepared."""
        now = time.monotonic()
        with self._lock:
            early = now < self._state.banned_until
        try:
            weight, build = parse(request)
        except _ApiError as err:
            response: web.StreamResponse = web.json_response(
                {"code": err.code, "msg": err.msg}, status=400)
            return self._finish(request, response, now, early, None, error_weight)
        fault = self._take_fault(request.path)
        if fault is None or fault.kind == "bad_price":
            return self._finish(request, build(fault), now, early, fault, weight)
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            if request.transport is None or request.transport.is_closing():
                # The client gave up waiting: nothing was served (499, as nginx logs it).
                gone = web.Response(status=CLIENT_CLOSED)
                return self._finish(request, gone, now, early, fault, weight)
            return self._finish(request, build(None), now, early, fault, weight)
        return self._finish(request, self._fault_response(fault), now, early, fault, weight)

    def _take_fault(self, path: str) -> Fault | None:
        """The first queued fault for ``path``, taken off the queue."""
        with self._lock:
            faults = self._state.faults
            for index, fault in enumerate(faults):
                if path in fault.paths:
                    del faults[index]
                    return fault
        return None

    def _symbol(self, query: Any) -> str:
        symbol = query.get("symbol")
        if not symbol:
            raise _ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                                   "or malformed.")
        if symbol not in self._start_prices:
            raise _ApiError(-1121, "Invalid symbol.")
        return str(symbol)

    def _requested(self, request: web.Request) -> tuple[list[str], int, bool]:
        """The symbols asked for, the request's weight, and whether it used ``symbol=``."""
        query = request.query
        if "symbol" in query and "symbols" in query:
            raise _ApiError(-1101, "Too many parameters; expected 'symbol' or 'symbols'.")
        if "symbol" in query:
            symbols, weight = [query["symbol"]], WEIGHT_SINGLE
        elif "symbols" in query:
            try:
                asked: object = json.loads(query["symbols"])
            except json.JSONDecodeError:
                asked = None
            if not isinstance(asked, list) or not all(isinstance(s, str) for s in asked):
                raise _ApiError(-1100, "Illegal characters found in parameter 'symbols'; "
                                       "legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]"
                                       "{1,20}\"){0,}){0,1}\\]$'.")
            symbols, weight = asked, WEIGHT_MANY
        else:
            symbols, weight = list(self._start_prices), WEIGHT_MANY
        if any(s not in self._start_prices for s in symbols):
            raise _ApiError(-1121, "Invalid symbol.")
        return symbols, weight, "symbol" in query

    def _prices(self, symbols: list[str], single: bool, fault: Fault | None) -> web.Response:
        """Each symbol's last trade price (a ``bad_price`` fault's price for its symbol)."""
        served_at = datetime.now(UTC)
        bad = {fault.symbol: fault.price} if fault is not None else {}
        with self._lock:
            items = [{"symbol": s, "price": bad.get(s, decimal_string(self._markets[s].price))}
                     for s in symbols]
            self._state.served.extend(
                ServedPrice(i["symbol"], i["price"], served_at) for i in items)
        return web.json_response(items[0] if single else items)

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
            response.headers[SIMULATED_HEADER] = "1"
            record = RequestRecord(request.path, dict(request.query), at, response.status,
                                   fault.kind if fault else None)
            state.requests.append(record)
            if early:
                state.violations.append(record)
            if response.status in (418, 429) and fault is not None and fault.retry_after:
                state.banned_until = at + fault.retry_after
        return response

    # -- streams ------------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """A combined-stream connection: validated, then fed by the generator until one
        side closes; every frame from the client is counted against the limit."""
        now = time.monotonic()
        streams_param = request.query.get("streams", "")
        try:
            streams = self._admit(streams_param, now)
        except _ApiError as err:
            self._attempted(now, streams_param, err.status)
            return web.json_response({"code": err.code, "msg": err.msg}, status=err.status)
        ws = web.WebSocketResponse(autoping=False, timeout=CLOSE_TIMEOUT, compress=False,
                                   max_msg_size=MAX_CLIENT_FRAME)
        await ws.prepare(request)
        self._attempted(now, streams_param, 101)
        conn = self._register(ws, request, streams, now)
        writer = asyncio.create_task(self._write(conn))
        try:
            async for msg in ws:
                self._received(conn, msg.type, msg.data)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._unregister(conn)
        return ws

    def _admit(self, streams_param: str, now: float) -> tuple[str, ...]:
        """The stream names asked for, or the refusal as an ``_ApiError``."""
        if now < self._refuse_until:
            raise _ApiError(-1001, "Service unavailable; try again later.", status=503)
        names = tuple(dict.fromkeys(n for n in streams_param.split("/") if n))
        if not names:
            raise _ApiError(-1102, "Mandatory parameter 'streams' was not sent, was "
                                   "empty/null, or malformed.")
        if len(names) > MAX_STREAMS:
            raise _ApiError(-1101, f"Too many streams: at most {MAX_STREAMS} per connection.")
        self._check_streams(names)
        return names

    def _check_streams(self, names: Sequence[str]) -> None:
        for name in names:
            symbol, at, kind = name.partition("@")
            if not at or kind not in STREAM_KINDS:
                raise _ApiError(-1100, f"Invalid stream name: {name[:40]!r}.")
            if symbol != symbol.lower() or symbol.upper() not in self._markets:
                raise _ApiError(-1121, f"Invalid symbol in stream {name[:40]!r}.")

    def _attempted(self, now: float, streams_param: str, status: int) -> None:
        attempts = self._attempt_times
        attempts.append(now)
        with self._lock:
            self._state.attempts.append(
                ConnectionAttempt(now, len([n for n in streams_param.split("/") if n]), status))
            if len(attempts) > MAX_ATTEMPTS and now - attempts[0] < ATTEMPT_WINDOW:
                self._state.stream_violations.append(
                    StreamViolation("attempts", now, None, len(attempts)))

    def _register(
        self, ws: web.WebSocketResponse, request: web.Request, streams: tuple[str, ...],
        now: float,
    ) -> _Connection:
        with self._lock:
            conn = _Connection(self._next_connection, ws, request, streams, now)
            self._next_connection += 1
            self._open[conn.id] = conn
        for stream in streams:
            self._subscribers.setdefault(stream, set()).add(conn)
        return conn

    def _unregister(self, conn: _Connection) -> None:
        for stream in conn.streams:
            self._subscribers[stream].discard(conn)
        if conn.close_reason is None:
            conn.close_reason = f"client closed ({conn.ws.close_code})"
        with self._lock:
            del self._open[conn.id]
            self._state.closed.append(conn.record(time.monotonic()))

    def _received(self, conn: _Connection, kind: WSMsgType, data: Any) -> None:
        if kind not in (WSMsgType.PING, WSMsgType.PONG, WSMsgType.TEXT, WSMsgType.BINARY):
            return
        now = time.monotonic()
        conn.received += 1
        second = int(now)
        if second != conn.window:
            conn.window, conn.window_frames = second, 0
        conn.window_frames += 1
        if conn.window_frames == MAX_INCOMING_PER_SECOND + 1:
            with self._lock:
                self._state.stream_violations.append(
                    StreamViolation("messages", now, conn.id, conn.window_frames))
        if kind is WSMsgType.PING:
            self._push(conn, WSMsgType.PONG, [bytes(data)], now)
        elif kind is WSMsgType.PONG and bytes(data) in conn.pings:
            conn.pings.clear()  # an answer to a later ping answers the earlier ones too
            conn.unanswered_since = None
            conn.pongs += 1
        elif kind is WSMsgType.TEXT:
            reply = self._control(conn, data)
            self._push(conn, WSMsgType.TEXT, [json.dumps(reply).encode()], now)

    def _control(self, conn: _Connection, text: str) -> dict[str, Any]:
        """Answer a control message: SUBSCRIBE, UNSUBSCRIBE or LIST_SUBSCRIPTIONS with
        ``params`` (stream names) and an ``id``, as Binance does, or its error."""
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            return _control_error(3, "Invalid JSON: expected a JSON object", None)
        if not isinstance(message, dict) or "method" not in message:
            return _control_error(2, "Invalid request: missing field `method`", None)
        ident = message.get("id")
        if ident is not None and (isinstance(ident, bool) or not isinstance(ident, int)
                                  or ident < 0):
            return _control_error(2, "Invalid request: request ID must be an unsigned "
                                     "integer", None)
        method, params = message["method"], message.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(conn.streams), "id": ident}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return _control_error(2, f"Invalid request: unknown method {str(method)[:40]!r}",
                                  ident)
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return _control_error(2, "Invalid request: params must be stream names", ident)
        names = list(dict.fromkeys(params))
        if method == "UNSUBSCRIBE":
            for name in names:
                if name in conn.streams:
                    conn.streams.remove(name)
                    self._subscribers[name].discard(conn)
            return {"result": None, "id": ident}
        try:
            self._check_streams(names)
        except _ApiError as err:
            return _control_error(2, f"Invalid request: {err.msg}", ident)
        added = [name for name in names if name not in conn.streams]
        if len(conn.streams) + len(added) > MAX_STREAMS:
            return _control_error(2, f"Invalid request: at most {MAX_STREAMS} streams per "
                                     "connection", ident)
        conn.streams += added
        for name in added:
            self._subscribers.setdefault(name, set()).add(conn)
        return {"result": None, "id": ident}

    def _push(self, conn: _Connection, kind: WSMsgType, frames: list[bytes], now: float) -> None:
        if now < conn.stalled_until or conn.close_reason is not None:
            return
        try:
            conn.queue.put_nowait((kind, frames))
        except asyncio.QueueFull:
            self._close(conn, 1008, "slow consumer")

    async def _write(self, conn: _Connection) -> None:
        """Send the connection's queue in order; a failed send ends the connection."""
        ws = conn.ws
        while True:
            kind, frames = await conn.queue.get()
            if conn.close_reason is not None:
                return  # closing: nothing more goes out (an abort would lose the close frame)
            try:
                for frame in frames:
                    await ws.send_frame(frame, kind)
            except ConnectionError as err:
                if conn.close_reason is None:  # the peer went away
                    self._abort(conn, f"send failed: {err}")
                return
            if kind is WSMsgType.TEXT:
                conn.sent += len(frames)

    def _close(self, conn: _Connection, code: int, reason: str) -> None:
        """Close with a close frame, once; the reader loop then ends the connection."""
        if conn.close_reason is not None:
            return
        conn.close_reason = reason
        task = asyncio.create_task(conn.ws.close(code=code, message=reason.encode()))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _abort(self, conn: _Connection, reason: str) -> None:
        """Close the TCP connection without a close frame, as a network failure would."""
        if conn.close_reason is None:
            conn.close_reason = reason
        if conn.request.transport is not None:
            conn.request.transport.abort()

    async def _generate(self) -> None:
        """Every STEP: extend each history to now, push what is new, apply due stream
        faults, ping and time out connections."""
        next_step = time.monotonic()
        while True:
            next_step += STEP
            await asyncio.sleep(max(0.0, next_step - time.monotonic()))
            self._generate_step()

    def _generate_step(self) -> None:
        now_ms = int(time.time() * 1000)
        with self._lock:
            steps = [(market, *market.advance(now_ms)) for market in self._markets.values()]
        now = time.monotonic()
        for market, trades, books in steps:
            if trades:
                self._publish_trades(market.symbol, trades, now_ms, now)
            if books:
                self._publish_books(market.symbol, books, now)
        self._apply_stream_faults(now)
        self._keep_alive(now)

    def _publish_trades(
        self, symbol: str, trades: list[AggTrade], event_ms: int, now: float,
    ) -> None:
        skip = self._skips.get(symbol, 0)
        if skip:
            self._skips[symbol] = max(0, skip - len(trades))
            trades = trades[skip:]
        with self._lock:
            losing = min(self._to_lose.get(symbol, 0), len(trades))
            if losing:
                self._to_lose[symbol] -= losing
                self._lost.setdefault(symbol, set()).update(t.agg_id for t in trades[:losing])
            hidden = self._markets[symbol].invalid_ids | self._lost.get(symbol, set())
            if hidden:
                trades = [trade for trade in trades if trade.agg_id not in hidden]
        stream = f"{symbol.lower()}@aggTrade"
        subscribers = self._subscribers.get(stream)
        if not subscribers or not trades:
            return
        frames = [_agg_trade_frame(stream, symbol, event_ms, t) for t in trades]
        for conn in subscribers:
            self._push(conn, WSMsgType.TEXT, frames, now)

    def _publish_books(self, symbol: str, books: list[BookQuote], now: float) -> None:
        stream = f"{symbol.lower()}@bookTicker"
        subscribers = self._subscribers.get(stream)
        if not subscribers:
            return
        frames = [_book_frame(stream, symbol, book) for book in books]
        for conn in subscribers:
            self._push(conn, WSMsgType.TEXT, frames, now)

    def _apply_stream_faults(self, now: float) -> None:
        while True:
            live = [c for c in self._open.values() if c.close_reason is None]
            with self._lock:
                faults = self._state.stream_faults
                if not faults or (faults[0].kind not in ("skip", "refuse") and not live):
                    return
                fault = faults.popleft()
                self._state.applied.append(AppliedStreamFault(fault, now, len(live)))
            if fault.kind == "skip":
                self._skips[fault.symbol] = self._skips.get(fault.symbol, 0) + fault.count
            elif fault.kind == "refuse":
                self._refuse_until = now + fault.seconds
            for conn in live:
                if fault.kind == "drop":
                    self._abort(conn, "dropped")
                elif fault.kind == "stall":
                    conn.stalled_until = now + fault.seconds
                elif fault.kind == "shutdown":
                    self._close(conn, 1001, "server shutdown")
                elif fault.kind == "malformed":
                    self._push(conn, WSMsgType.TEXT, self._malformed(conn, fault.count), now)
                elif fault.kind == "frames":
                    self._push(conn, WSMsgType.TEXT, list(fault.frames), now)
                elif fault.kind == "pings":
                    self._ping(conn, [f"flood-{n}".encode() for n in range(fault.count)], now)

    def _malformed(self, conn: _Connection, count: int) -> list[bytes]:
        stream = next((s for s in conn.streams if s.endswith("@aggTrade")),
                      f"{next(iter(self._markets)).lower()}@aggTrade")
        symbol = stream.partition("@")[0].upper()
        with self._lock:
            last_id = self._markets[symbol].next_agg_id - 1
        now_ms = int(time.time() * 1000)
        bad_trade = {"e": "aggTrade", "E": now_ms, "s": symbol, "a": last_id, "p": "abc",
                     "q": "1.00000000", "f": 1, "l": 1, "T": now_ms, "m": False, "M": True}
        kinds = [
            b"this is not JSON {",
            json.dumps({"stream": stream}).encode(),
            json.dumps({"stream": f"{symbol.lower()}@weird",
                        "data": {"e": "weird", "E": now_ms}}).encode(),
            json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": bad_trade}).encode(),
        ]
        return [kinds[i % len(kinds)] for i in range(count)]

    def _keep_alive(self, now: float) -> None:
        """Ping every ping_interval (not while stalled); close connections that did not
        answer within pong_timeout or that reached max_connection_age."""
        for conn in list(self._open.values()):
            if conn.close_reason is not None:
                continue
            if now - conn.opened_at >= self.max_connection_age:
                self._close(conn, 1000, "connection age limit")
            elif (conn.unanswered_since is not None
                  and now - conn.unanswered_since > self.pong_timeout):
                self._close(conn, 1008, "pong timeout")
            elif now >= conn.stalled_until and now - conn.last_ping >= self.ping_interval:
                self._ping(conn, [str(int(time.time() * 1000)).encode()], now)

    def _ping(self, conn: _Connection, payloads: list[bytes], now: float) -> None:
        """Send pings; the connection owes a pong (for the latest: it answers them all)."""
        conn.last_ping = now
        conn.pings.update(payloads)
        if conn.unanswered_since is None:
            conn.unanswered_since = now
        self._push(conn, WSMsgType.PING, payloads, now)


_Build = Callable[[Fault | None], web.StreamResponse]


def _agg_trade_frame(stream: str, symbol: str, event_ms: int, trade: AggTrade) -> bytes:
    maker = "true" if trade.buyer_maker else "false"
    return (
        f'{{"stream":"{stream}","data":{{"e":"aggTrade","E":{event_ms},"s":"{symbol}",'
        f'"a":{trade.agg_id},"p":"{decimal_string(trade.price)}",'
        f'"q":"{decimal_string(trade.qty)}","f":{trade.first_id},"l":{trade.last_id},'
        f'"T":{trade.time_ms},"m":{maker},"M":true}}}}'
    ).encode()


def _book_frame(stream: str, symbol: str, book: BookQuote) -> bytes:
    return (
        f'{{"stream":"{stream}","data":{{"u":{book.update_id},"s":"{symbol}",'
        f'"b":"{decimal_string(book.bid)}","B":"{decimal_string(book.bid_qty)}",'
        f'"a":"{decimal_string(book.ask)}","A":"{decimal_string(book.ask_qty)}"}}}}'
    ).encode()


def _control_error(code: int, msg: str, ident: int | None) -> dict[str, Any]:
    return {"error": {"code": code, "msg": msg}, "id": ident}


def _whole(query: Any, name: str, default: int | None) -> Any:
    """A whole-number parameter (>= 0), ``default`` when not sent."""
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise _ApiError(-1102, f"Parameter '{name}' was empty/null, or malformed.")
    return int(text)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("simulated exchange: the trade generator stopped", exc_info=task.exception())


async def _ping(_: web.Request) -> web.Response:
    return web.json_response({})


async def _server_time(_: web.Request) -> web.Response:
    return web.json_response({"serverTime": int(time.time() * 1000)})


class _ApiError(ValueError):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


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

    @property
    def ws_url(self) -> str:
        return self.sim.ws_url

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


async def _serve(host: str, port: int, symbols: Sequence[str], **options: Any) -> None:
    sim = SimExchange(symbols, **options)
    await sim.start(host, port)
    log.warning("simulated Binance: REST at %s, streams at %s/stream (symbols %s); "
                "Ctrl-C stops it", sim.url, sim.ws_url, ",".join(symbols))
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cryptoflow.devstack.simexchange",
        description="Serve Binance's price, trade and kline endpoints and its combined "
                    "streams locally, on one port.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--trade-rate", type=float, default=5.0,
                        help="mean aggregate trades per second per symbol")
    parser.add_argument("--book-rate", type=float, default=5.0,
                        help="book updates per second per symbol")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, symbols, seed=args.seed,
                           trade_rate=args.trade_rate, book_rate=args.book_rate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
