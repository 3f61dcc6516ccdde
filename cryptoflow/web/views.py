"""The web views every worker serves: the JSON API under ``/api/``, the live event
stream, and the dashboard page at ``/``.

A symbol's table rows live on the worker that owns its partition, so a request
is answered there: a view asks faust's router for the owner and either answers
from the local tables or fetches the answer from the owner (marked with
``X-Cryptoflow-Routed`` so it is never forwarded twice). faust's own
``table_route`` does the same but takes the raw path segment as the key; ours
normalises the symbol first and answers 503 (not faust's 500) while partitions
are not yet assigned.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, TypeVar, cast

import aiohttp
from aiohttp import web
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View
from faust.web.drivers.aiohttp import Web as AiohttpWeb
from pymongo.errors import PyMongoError
from yarl import URL

from cryptoflow.app import app
from cryptoflow.exceptions import ApiError
from cryptoflow.records import LATEST_AHEAD, format_ts
from cryptoflow.settings import mask_uri, topic_name
from cryptoflow.sources.market import market_streams
from cryptoflow.sources.poller import poller
from cryptoflow.tables.market_tables import streamed_windows
from cryptoflow.tables.price_tables import latest_ticks, window_tables
from cryptoflow.web import api, market_api
from cryptoflow.web.livefeed import sse_message
from cryptoflow.web.prepared import AnswerKey, Made, encode, json_list

log = logging.getLogger(__name__)

ROUTED_HEADER = "X-Cryptoflow-Routed"
RETRY_AFTER = 2.0
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=5.0)

Answer = Callable[[], dict[str, Any]]
T = TypeVar("T")
# Identical database reads within this many seconds share one query (a dashboard
# page polls; many pages poll the same thing).
READ_CACHE_SECONDS = 1.0


class ApiView(View):
    """Base of our views: an ``ApiError`` becomes its JSON error answer, and a query
    parameter given more than once is one (before the view reads any)."""

    async def dispatch(self, request: Any) -> Any:
        try:
            api.reject_repeated(name for name, _ in request.query.items())
            return await super().dispatch(request)
        except ApiError as err:
            return self.error_answer(err)

    def error_answer(self, err: ApiError) -> Response:
        headers = {"Retry-After": f"{err.retry_after:g}"} if err.retry_after else None
        return self.json(api.error_body(err), status=err.status, headers=headers)

    def json(self, value: Any, **kwargs: Any) -> Response:
        """No answer holds a non-finite number (not JSON): those become null."""
        return super().json(api.json_safe(value), **kwargs)

    async def post(self, request: Request, **_: Any) -> Response:
        raise ApiError(405, f"{request.method} is not allowed here; use GET")

    put = patch = delete = post

    async def from_owner(
        self, request: Request, table_name: str, symbol: str, path: str, answer: Answer,
    ) -> dict[str, Any]:
        """``answer()`` here if this worker owns ``symbol``, else the owner's answer."""
        _check_recovered()
        if request.headers.get(ROUTED_HEADER) is None:
            owner = _owner(table_name, symbol)
            if owner is not None:
                return await fetch_routed(owner.with_path(path).with_query(request.query))
        return answer()

    async def prepared_from_owner(
        self, request: Request, table_name: str, symbol: str, path: str,
        make: Callable[[], Made], key: AnswerKey,
    ) -> bytes:
        """As ``from_owner``, encoded; kept in ``app.answers`` where this worker owns
        ``symbol`` (a routed request to a worker that no longer does is answered from
        its copy of the tables, which changelog records update unseen: never kept)."""
        _check_recovered()
        if request.headers.get(ROUTED_HEADER) is None:
            owner = _owner(table_name, symbol)
            if owner is not None:
                return encode(await fetch_routed(owner.with_path(path).with_query(request.query)))
        elif not _owns(table_name, symbol):
            return encode(make()[0])
        return app.answers.get(key, make)


class PreparedView(ApiView):
    """A view whose GET is answered from prepared bytes (``app.answers``): faust's view
    dispatch around it (its method table, its web request sensors) cost as much CPU as
    the rest of such a request (bench/README.md), so ``prepared_page`` registers GET as
    a plain aiohttp handler calling ``get`` itself; the other methods (HEAD, and the
    405s) go through faust as before. Not seen by faust's request sensors: GETs of these
    pages are not in ``/stats/``'s or ``/metrics``' HTTP counts."""

    def get_methods(self) -> set[str]:
        return super().get_methods() - {"GET"}

    async def answer_get(self, request: web.Request) -> web.StreamResponse:
        try:
            api.reject_repeated(name for name, _ in request.query.items())
            response = await self.get(request, **request.match_info)
        except ApiError as err:
            response = self.error_answer(err)
        return cast(web.StreamResponse, response)  # faust's aiohttp driver: aiohttp's responses


def prepared_page(path: str) -> Callable[[type[PreparedView]], type[PreparedView]]:
    """``app.page(path)``, with GET answered by ``PreparedView.answer_get`` directly."""
    def register(view: type[PreparedView]) -> type[PreparedView]:
        app.page(path)(view)
        registered = cast(PreparedView, app.web.views[path])
        cast(AiohttpWeb, app.web).web_app.router.add_route("GET", path, registered.answer_get)
        return view
    return register


def json_bytes(body: bytes) -> Response:
    """A 200 with ``body``, the headers faust's ``View.json`` sends."""
    return cast(Response, web.Response(  # as faust's aiohttp driver makes its responses
        body=body, content_type="application/json", charset="utf-8"))


def _check_recovered() -> None:
    if not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]  # faust's TableManagerT does not declare recovery
        raise ApiError(503, "tables are recovering; try again shortly",
                       retry_after=RETRY_AFTER)


def _owns(table_name: str, symbol: str) -> bool:
    try:
        return _owner(table_name, symbol) is None
    except ApiError:
        return False


def _owner(table_name: str, symbol: str) -> URL | None:
    """The worker owning ``symbol``'s rows of the table, None when it is this one."""
    return app.answers.owner(table_name, symbol, _router_owner)


def _router_owner(table_name: str, symbol: str) -> URL | None:
    try:
        owner = app.router.key_store(table_name, symbol)
    except (KeyError, TypeError):  # faust raises both before partitions are assigned
        raise ApiError(503, "worker is not ready (partitions not assigned yet)",
                       retry_after=RETRY_AFTER) from None
    this = app.conf.canonical_url
    return None if (owner.host, owner.port) == (this.host, this.port) else owner


async def fetch_routed(url: URL) -> dict[str, Any]:
    """The answer of another worker (marked as routed, so it answers itself)."""
    try:
        async with app.http_client.get(
            url, headers={ROUTED_HEADER: "1"}, timeout=FORWARD_TIMEOUT,
        ) as response:
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError) as err:
        raise ApiError(503, f"the worker owning this key did not answer: {err}",
                       retry_after=RETRY_AFTER) from None
    if response.status != 200:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise ApiError(response.status, error.get("message", "owner failed"),
                       error.get("param"),
                       retry_after=RETRY_AFTER if response.status == 503 else None)
    return body  # type: ignore[no-any-return]  # a 200 from another worker is a JSON object


async def symbol_stats(view: ApiView, request: Request, symbol: str) -> bytes:
    """Kept while it cannot change: without ``at`` it is the window of the symbol's
    latest tick, until that window may be cleaned up (its start + ``expires``)."""
    spec = api.parse_window(request.query)
    at = api.parse_time(request.query, "at", datetime.now(UTC))
    table = window_tables[spec.name]

    def answer() -> Made:
        latest = latest_ticks.get(symbol)
        moment = at or (latest.ts if latest is not None else datetime.now(UTC))
        if latest is not None and not spec.retains(moment, latest.ts):
            raise ApiError(404, f"the {spec.name} window at {moment.isoformat()} is no "
                                f"longer kept (kept for {spec.expires})", param="at")
        body = api.window_stats(
            symbol, spec, moment, table.relative_to(moment)[symbol].value(),
            *streamed_windows(spec, symbol, moment))
        kept = at is None and latest is not None
        return body, (spec.bounds(moment)[0] + spec.expires).timestamp() if kept else None

    return await view.prepared_from_owner(
        request, table.name, symbol, f"/api/stats/{symbol}/", answer,
        ("stats", symbol, spec.name),
    )


async def symbol_latest(view: ApiView, request: Request, symbol: str) -> bytes:
    return await view.prepared_from_owner(
        request, latest_ticks.name, symbol, f"/api/prices/latest/{symbol}/",
        lambda: (api.latest_price(symbol, latest_ticks.get(symbol)), math.inf),
        ("latest", symbol, ""),
    )


@prepared_page("/api/stats/{symbol}/")
class SymbolStatsView(PreparedView):
    async def get(self, request: Request, symbol: str) -> Response:
        symbol = api.parse_symbol(symbol, app.settings.symbols)
        return json_bytes(await symbol_stats(self, request, symbol))


@app.page("/api/stats/")
class AllStatsView(ApiView):
    async def get(self, request: Request) -> Response:
        return json_bytes(
            json_list([await symbol_stats(self, request, s) for s in app.settings.symbols]),
        )


@app.page("/api/prices/latest/{symbol}/")
class SymbolLatestView(ApiView):
    async def get(self, request: Request, symbol: str) -> Response:
        symbol = api.parse_symbol(symbol, app.settings.tick_symbols)
        return json_bytes(await symbol_latest(self, request, symbol))


@prepared_page("/api/prices/latest/")
class LatestPricesView(PreparedView):
    async def get(self, request: Request) -> Response:
        return json_bytes(
            json_list([await symbol_latest(self, request, s) for s in app.settings.tick_symbols]),
        )


async def database_read(key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
    """A view's MongoDB query: bounded and shared (``app.web_reads``), a database
    error answered as a 503."""
    try:
        return await app.web_reads.cached(key, READ_CACHE_SECONDS, fetch)
    except PyMongoError as err:
        raise ApiError(503, f"database: {type(err).__name__}",
                       retry_after=RETRY_AFTER) from None


HEALTH_TIMEOUT = 2.0
STARTED = datetime.now(UTC)


async def _probe(check: Awaitable[object], what: str) -> tuple[bool, str]:
    try:
        await asyncio.wait_for(check, timeout=HEALTH_TIMEOUT)
    except TimeoutError:
        return False, f"{what} did not answer within {HEALTH_TIMEOUT:g}s"
    except (KafkaError, PyMongoError) as err:
        return False, f"{what}: {type(err).__name__}: {err}"
    return True, f"{what} answered"


@app.page("/api/health/")
class HealthView(ApiView):
    """For load balancers and Docker: 200 when the worker is ready and broker, database,
    polling and streams are fine; 503 ``starting`` before it is ready."""

    async def get(self, request: Request) -> Response:
        settings = app.settings
        # faust keeps its aiokafka producer private; its client asks the broker.
        kafka = app.producer._ensure_producer().client  # type: ignore[attr-defined]  # private, on faust's aiokafka Producer only
        checks = {
            "worker": (app.ready, "ready" if app.ready else
                       "starting: joining the group and recovering the tables"),
            "broker": await _probe(kafka.fetch_all_metadata(), mask_uri(settings.broker)),
            "database": await _probe(app.store.ping(), mask_uri(settings.mongo_uri)),
            "poll": api.poll_health(
                settings.poll_interval, app.is_leader(), poller.last_success, poller.failing,
                STARTED, datetime.now(UTC),
            ),
            "streams": market_api.streams_health(
                bool(settings.streams), market_streams.status()["connections"],
                settings.stream_down_after),
        }
        status, body = api.health_body(checks)
        body["stream_clients"] = len(app.live_feed.subscribers)
        body["web_reads"] = app.web_reads.describe()
        body["exchange"] = api.exchange_source(
            settings.binance_url, app.binance.simulated, api.unreachable_since(_failing_since()))
        return self.json(body, status=status)


def _failing_since() -> list[datetime | None]:
    """Since when each way this worker reads from the exchange has failed (None: it
    works): the poll, where this worker polls, and the streams, all of whose
    connections are down."""
    sources: list[datetime | None] = []
    if app.settings.poll_interval > 0 and app.is_leader():
        sources.append((poller.last_success or STARTED) if poller.failing else None)
    connections = market_streams.connections
    down = [c.down_at for c in connections if c.down_at is not None]
    if app.settings.streams and connections:
        sources.append(max(down) if len(down) == len(connections) else None)
    return sources


HISTORY_LIMIT = 5000
HISTORY_MAX_MINUTES = 24 * 60
KEEPALIVE = 15.0
STREAM_RETRY_AFTER = 10.0
STATIC = resources.files("cryptoflow.web") / "static"
DASHBOARD = (STATIC / "dashboard.html").read_text("utf-8")
FAVICON = (STATIC / "favicon.svg").read_bytes()


@app.page("/api/prices/history/{symbol}/")
class PriceHistoryView(ApiView):
    """The stored ticks of one symbol over the last ``minutes`` (default 60), for charts."""

    async def get(self, request: Request, symbol: str) -> Response:
        symbol = api.parse_symbol(symbol, app.settings.tick_symbols)
        minutes = api.parse_count(request.query, "minutes", 60, HISTORY_MAX_MINUTES)

        async def fetch() -> dict[str, Any]:
            now = datetime.now(UTC)
            docs = await app.store.ticks_between(  # up to LATEST_AHEAD: clocks differ
                topic_name(symbol), now - timedelta(minutes=minutes), now + LATEST_AHEAD,
                HISTORY_LIMIT)
            return {"symbol": symbol, "minutes": minutes, "ticks": [
                {"price": doc["price"], "ts": format_ts(doc["ts"])} for doc in docs]}

        return self.json(await database_read(("history", symbol, minutes), fetch))


ALERTS_LIMIT = 500


@app.page("/api/alerts/")
class AlertsView(ApiView):
    """Recent price-jump alerts from MongoDB: ``?symbol=&since=&limit=`` (newest first)."""

    async def get(self, request: Request) -> Response:
        query = request.query
        symbol = api.parse_symbol(query["symbol"], app.settings.tick_symbols) if query.get(
            "symbol") else None
        since = api.parse_time(query, "since", datetime.now(UTC))
        limit = api.parse_count(query, "limit", 50, ALERTS_LIMIT)

        async def fetch() -> list[dict[str, Any]]:
            docs = await app.store.recent_alerts("alerts", symbol, since, limit)
            return [api.alert_body(doc) for doc in docs]

        return self.json(await database_read(("alerts", symbol, since, limit), fetch))


@app.page("/api/stream/")
class LiveStreamView(ApiView):
    """Server-Sent Events: tick events for every tick, stats events when they change.

    Each client reads its own bounded queue (``LiveFeed``); a slow one loses its
    oldest events, never stalls the agents; a closed connection ends the loop, and
    so does the worker's stop (the feed closes). At most CRYPTOFLOW_STREAM_CLIENTS
    at once: the next one is a 503."""

    async def get(self, request: Request) -> web.StreamResponse:
        if app.live_feed.full:
            raise ApiError(503, f"{app.live_feed.clients} live stream clients are connected, "
                                "the most this worker serves; try again later",
                           retry_after=STREAM_RETRY_AFTER)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        })
        with app.live_feed.subscribe() as subscription:  # before any await: the cap holds
            await response.prepare(cast(web.Request, request))  # faust's aiohttp driver: aiohttp's
            try:
                await response.write(b": connected\n\n")
                while True:
                    try:
                        event = await asyncio.wait_for(subscription.next(), KEEPALIVE)
                    except TimeoutError:
                        await response.write(b": keep-alive\n\n")
                        continue
                    if event is None:  # the worker is stopping
                        break
                    await response.write(sse_message(event))
            except ConnectionResetError:
                log.debug("live stream client left")
        return response


@app.page("/")
class DashboardView(View):
    """The live dashboard: one self-contained page, no CDN, no build step."""

    async def get(self, request: Request) -> Response:
        return self.html(DASHBOARD)


@app.page("/favicon.ico")
class FaviconView(View):
    """The icon browsers ask for by this name (an SVG): no 404 in their console."""

    async def get(self, request: Request) -> Response:
        return self.bytes(FAVICON, content_type="image/svg+xml",
                          headers={"Cache-Control": "max-age=86400"})


@app.page("/api/{path:.*}")
class UnknownApiView(ApiView):
    """Anything else under /api/ is a JSON 404, never faust's plain-text one."""

    async def get(self, request: Request, path: str) -> Response:
        raise ApiError(404, f"no such endpoint: /api/{path[:64]}")
