"""One Binance combined-stream WebSocket connection, kept open for as long as it is wanted.

``StreamConnection`` connects to ``{ws_url}/stream?streams=btcusdt@aggTrade/...`` (at
most 1024 streams, Binance's limit per connection, and a URL of at most ``MAX_URL``
characters: ``connection_groups`` splits the streams), hands every text frame to its
owner and answers the server's pings itself. A pong is the only frame it sends, at
most one a second (``PongSchedule``: a flood of pings is answered by one pong with the
latest payload), so it stays below Binance's 5 messages a second whatever the server
sends. It reconnects, after a jittered backoff, when the connection drops, is closed by
the server (a 1001 shutdown notice too), sends a frame over ``MAX_FRAME_BYTES``, goes
silent (no frame and no ping for ``silence`` seconds), reaches ``max_age`` (Binance
closes every connection at 24 h: rotating earlier keeps the seam ours), or when
handling a frame fails in a way nobody foresaw. Each cause of reconnecting is logged as
a warning once, its repeats at debug level (an unreachable exchange fails the same way
every retry), and the connect after them says how many attempts failed. A failure while
handling a frame is logged with its traceback and counted
(``cryptoflow_stream_failures_total``), and the connection is opened again, so a stream
never ends while it is wanted. Every attempt of every connection of the worker passes
one ``AttemptWindow`` (300 per 5 minutes), so a flapping network can never get the IP
banned. After each connect it calls ``on_connect``: the owner fills from REST what the
pause missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp

from cryptoflow import metrics
from cryptoflow.backoff import Backoff
from cryptoflow.sources.gaps import AttemptWindow, PongSchedule

log = logging.getLogger(__name__)

MAX_STREAMS = 1024  # per connection (Binance)
# The longest URL a connection dials. Binance refuses longer ones (about 8,000
# characters, as client libraries measured it) and so does the simulated exchange's
# aiohttp server (8,190 bytes of request line): 300 symbols of trades and book
# tickers make 600 streams, about 11,400 characters, two connections then.
MAX_URL = 7_500
STREAM_PATH = "/stream?streams="
MESSAGE_TOO_BIG = 1009  # WebSocket close code
STABLE_AFTER = 30.0  # a connection that lasted this long resets the backoff
MAX_FRAME_BYTES = 1 << 20
PONG_EVERY = 1.0  # seconds: at most one pong per connection in any second


def connection_groups(
    base_url: str, streams: Sequence[str], most: int = MAX_STREAMS,
) -> list[list[str]]:
    """``streams`` in order, cut into the fewest consecutive groups of which each fits one
    connection: at most ``most`` (≤ ``MAX_STREAMS``) streams and a URL of at most
    ``MAX_URL``."""
    most = min(most, MAX_STREAMS)
    room = MAX_URL - len(base_url) - len(STREAM_PATH)
    groups: list[list[str]] = []
    length = 0
    for stream in streams:
        if len(stream) > room:
            raise ValueError(f"stream name too long for one connection: {stream[:60]!r}")
        if groups and len(groups[-1]) < most and length + 1 + len(stream) <= room:
            groups[-1].append(stream)
            length += 1 + len(stream)
        else:
            groups.append([stream])
            length = len(stream)
    return groups


class ConnectionGate:
    """The worker's one ``AttemptWindow``, awaited by every connection before it dials."""

    def __init__(self, window: AttemptWindow | None = None) -> None:
        self.window = window or AttemptWindow()
        self._lock = asyncio.Lock()

    async def attempt(self) -> None:
        async with self._lock:
            while (delay := self.window.wait(time.monotonic())) > 0:
                log.warning("Binance stream: %d connection attempts in %gs; waiting %.1fs",
                            self.window.limit, self.window.per, delay)
                await asyncio.sleep(delay)
            self.window.record(time.monotonic())


class StreamConnection:
    """A reconnecting connection for ``streams``; ``run()`` until ``stop()``."""

    def __init__(
        self, name: str, base_url: str, streams: Sequence[str], *,
        on_frame: Callable[[str], Awaitable[None]], on_connect: Callable[[], Awaitable[None]],
        gate: ConnectionGate, backoff: Backoff, silence: float, max_age: float,
        on_outage: Callable[[StreamConnection, datetime, datetime | None], None] | None = None,
    ) -> None:
        if not 0 < len(streams) <= MAX_STREAMS:
            raise ValueError(f"a connection carries 1 to {MAX_STREAMS} streams, not {len(streams)}")
        self.name = name
        self.url = f"{base_url}{STREAM_PATH}{'/'.join(streams)}"
        if len(self.url) > MAX_URL:
            raise ValueError(f"a connection's URL is at most {MAX_URL} characters, not "
                             f"{len(self.url)} (split the streams with connection_groups)")
        self.streams = list(streams)
        self.on_frame = on_frame
        self.on_connect = on_connect
        self.gate = gate
        self.backoff = backoff
        self.silence = silence
        self.max_age = max_age
        self.state = "starting"
        self.connected_since: datetime | None = None
        self.down_since: float | None = time.monotonic()  # monotonic; None while connected
        # An outage: from the end of a connection (or the start, if the first attempt
        # failed) to the next connection; reported to on_outage when it begins and ends.
        self.on_outage = on_outage
        self.down_at: datetime | None = None
        self._created = datetime.now(UTC)
        self.messages = 0
        self.reconnects = 0
        self.failed_attempts = 0  # since the connection was last open
        self.last_error: str | None = None
        self._last_frame = time.monotonic()
        self._stopping = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    @property
    def symbols(self) -> list[str]:
        return sorted({stream.split("@", 1)[0].upper() for stream in self.streams})

    def status(self, now: float) -> dict[str, Any]:
        """What ``/api/streams/`` shows of this connection."""
        return {
            "name": self.name, "state": self.state, "streams": len(self.streams),
            "symbols": self.symbols,
            "connected_since": self.connected_since.isoformat() if self.connected_since
            else None,
            "messages": self.messages, "reconnects": self.reconnects,
            "last_message_age": round(now - self._last_frame, 3),
            "down_for": round(now - self.down_since, 3) if self.down_since is not None
            else None,
            "last_error": self.last_error,
        }

    async def run(self, session: aiohttp.ClientSession) -> None:
        delays = self.backoff.delays()
        while not self._stopping:
            await self.gate.attempt()
            self.state = "connecting"
            opened = time.monotonic()
            try:
                reason = await self._connection(session)
            except Exception as err:
                # A bug or an input nobody foresaw: reported, then the connection is
                # opened again (and the seam filled) as after any other end.
                log.exception("Binance stream %s: failed while handling the stream", self.name)
                metrics.STREAM_FAILURES.inc()
                reason = f"failed: {type(err).__name__}: {err}"
            if self._stopping:
                break
            self.reconnects += 1
            metrics.STREAM_RECONNECTS.inc()
            was_down = self.down_since is not None  # this attempt never connected
            again = was_down and reason == self.last_error
            self._went_down(reason)
            self.failed_attempts += was_down
            if time.monotonic() - opened > STABLE_AFTER:
                delays = self.backoff.delays()
            delay = next(delays)
            self.state = "waiting"
            # Once per cause: an unreachable exchange fails the same way on every retry.
            log.log(logging.DEBUG if again else logging.WARNING,
                    "Binance stream %s: %s; reconnecting in %.1fs%s", self.name, reason, delay,
                    "" if again else " (again with backoff; logged when the cause changes)")
            await asyncio.sleep(delay)
        self.state = "stopped"

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()

    def _went_down(self, reason: str) -> None:
        self.last_error = reason
        if self.down_at is None:
            self.down_at = datetime.now(UTC) if self.connected_since else self._created
            if self.on_outage is not None:
                self.on_outage(self, self.down_at, None)
        self.connected_since = None
        if self.down_since is None:
            self.down_since = time.monotonic()

    async def _connection(self, session: aiohttp.ClientSession) -> str:
        """One connection from dial to end; returns why it ended."""
        try:
            ws = await session.ws_connect(
                self.url, autoping=False, max_msg_size=MAX_FRAME_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
            )
        except aiohttp.WSServerHandshakeError as err:
            return f"connection refused (HTTP {err.status})"
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            return f"cannot connect: {_connect_failure(err)}"
        self._ws = ws
        self.state = "connected"
        self.connected_since = datetime.now(UTC)
        if self.down_at is not None and self.on_outage is not None:
            self.on_outage(self, self.down_at, self.connected_since)
        self.down_at = None
        self.down_since = None
        self._last_frame = time.monotonic()
        failed, self.failed_attempts = self.failed_attempts, 0
        log.info("Binance stream %s: connected (%d streams)%s", self.name, len(self.streams),
                 f" after {failed} failed attempt(s)" if failed else "")
        metrics.STREAMS_UP.inc()
        try:
            await self.on_connect()
            return await self._read(ws)
        finally:
            metrics.STREAMS_UP.dec()
            self._ws = None
            with contextlib.suppress(aiohttp.ClientError, OSError):
                await ws.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        retire_at = time.monotonic() + self.max_age
        pongs = PongSchedule(PONG_EVERY)
        while True:
            now = time.monotonic()
            if (payload := pongs.take(now)) is not None:
                await ws.pong(payload)
            if now >= retire_at:
                return f"rotating after {self.max_age:g}s (Binance closes at 24 h)"
            silent_at = self._last_frame + self.silence
            if now >= silent_at:
                return f"silent for {self.silence:g}s (no message, no ping)"
            due = pongs.due_at()
            wake = min(retire_at, silent_at, retire_at if due is None else due)
            try:
                message = await ws.receive(timeout=max(0.0, wake - now))
            except TimeoutError:
                continue
            if message.type is aiohttp.WSMsgType.TEXT:
                self._last_frame = time.monotonic()
                self.messages += 1
                await self.on_frame(message.data)
            elif message.type is aiohttp.WSMsgType.PING:
                self._last_frame = time.monotonic()
                pongs.ping(message.data)
            elif message.type is aiohttp.WSMsgType.PONG:
                self._last_frame = time.monotonic()
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                  aiohttp.WSMsgType.CLOSED):
                code = ws.close_code
                extra = f": {message.extra}" if message.extra else ""
                return f"closed by the server (code {code}{extra})"
            elif message.type is aiohttp.WSMsgType.ERROR:
                return _error_reason(message.data)
            else:  # BINARY: Binance sends none
                self._last_frame = time.monotonic()
                log.debug("Binance stream %s: ignored a %s frame", self.name, message.type)


def _connect_failure(err: BaseException) -> str:
    """Why a connection could not be made, in the words a person checks first: the name
    (DNS), the port (refused), the network (timeout), the certificate (TLS)."""
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return f"DNS cannot resolve {err.host} ({err.os_error})"
    if isinstance(err, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return f"TLS failed ({err})"
    if isinstance(err, aiohttp.ClientConnectorError):
        if isinstance(err.os_error, ConnectionRefusedError):
            return f"{err.host}:{err.port} refused the connection (nothing listens there)"
        return f"{err.host}:{err.port} unreachable ({err.os_error})"
    if isinstance(err, TimeoutError | aiohttp.ServerTimeoutError):
        return "no answer in time (a proxy or a firewall dropping the port?)"
    return f"{type(err).__name__}: {err}"


def _error_reason(error: object) -> str:
    """Why a connection ended on an error message: aiohttp refuses a frame over
    ``max_msg_size`` with a WebSocketError of code 1009 ("Message size N exceeds limit
    L"), before reading it."""
    if isinstance(error, aiohttp.WebSocketError) and error.code == MESSAGE_TOO_BIG:
        return f"frame too large, refused unread: {error} bytes (MAX_FRAME_BYTES)"
    return f"connection error ({error!r})"
