"""The Faust app, built from typed settings: the one global of cryptoflow.

It also owns the worker's two outside connections, the Binance client and the
MongoDB store, so that they are created once, shared by every agent and job,
and closed when the worker stops.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
import mode.loop
from faust.types import TransportT
from faust.web.apps.stats import blueprint as stats_blueprint

from cryptoflow.broker.transport import CryptoflowTransport
from cryptoflow.exceptions import SettingsError
from cryptoflow.logs import quiet_frameworks
from cryptoflow.metrics import prometheus_sensors
from cryptoflow.settings import Settings
from cryptoflow.sinks.mongo import TickStore
from cryptoflow.sources.binance import BinanceClient
from cryptoflow.web.livefeed import LiveFeed
from cryptoflow.web.prepared import AnswersSensor, PreparedAnswers
from cryptoflow.web.reads import WebReads
from cryptoflow.web.router import CryptoflowRouter

log = logging.getLogger(__name__)

# Faust's default is 1 MB; a dead letter re-sends a poison value with headers added,
# so leave room for the largest value a topic may hold.
PRODUCER_MAX_REQUEST_BYTES = 4 * 1024 * 1024


class CryptoflowApp(faust.App):
    """faust.App plus the settings and connections every part of the worker shares."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.settings = settings  # before faust's __init__, which may build the transport
        super().__init__(
            settings.app_id,
            broker=settings.broker,
            broker_credentials=settings.broker_credentials(),
            datadir=settings.data_dir,
            store="memory://",  # tables are rebuilt from their changelog topics
            processing_guarantee="at_least_once",
            # Stop without waiting for every event in flight to be acknowledged: seen to
            # hang a SIGTERM'd worker for good. Offsets are committed only for written
            # batches, so what was in flight is read again after the restart.
            stream_wait_empty=False,
            topic_partitions=settings.topic_partitions,
            broker_session_timeout=settings.broker_session_timeout,
            broker_heartbeat_interval=settings.broker_heartbeat_interval,
            broker_rebalance_timeout=settings.broker_rebalance_timeout,
            producer_max_request_size=PRODUCER_MAX_REQUEST_BYTES,
            producer_max_batch_size=settings.producer_max_batch_bytes,
            producer_linger=settings.producer_linger,
            web_port=settings.web_port,
            web_bind=settings.web_bind,
            web_host=settings.web_host,
            Router=CryptoflowRouter,  # a JSON 404 for /router/<unknown table>/
            **options,
        )
        # faust's sensor statistics at /stats/ (it would take /, which stays free);
        # its /router/, /table/ pages are on by default. /graph/ needs pydot: left off.
        stats_blueprint.register(self, url_prefix="/stats/")
        self.ready = False  # until faust's worker is ready (on_started)
        self.binance = BinanceClient(settings.binance_url, settings.http_timeout,
                                     settings.rest_weight_budget)
        self.store = TickStore(settings.mongo_uri, settings.mongo_db)
        self.live_feed = LiveFeed(clients=settings.stream_clients)
        # every database read of the web views goes through this (cryptoflow/web/reads.py)
        self.web_reads = WebReads(settings.web_reads, settings.web_reads_queue)
        # the encoded answers of /api/stats/{symbol}/ and /api/prices/latest/, kept until
        # a table write for their symbol (the sensor) or a rebalance (web/prepared.py)
        self.answers = PreparedAnswers()
        self.sensors.add(AnswersSensor(self.answers))
        self.on_rebalance_complete.connect(self._keep_answers)

    def _new_transport(self) -> TransportT:
        # faust's aiokafka transport (kafka:// and aiokafka:// both name it) with the
        # fix in cryptoflow/broker/transport.py; the local broker's adds its own quirks,
        # loaded only for it: a worker on Kafka never imports the local-development code.
        if self.settings.broker_flavor == "TANSU":
            from cryptoflow.devstack.tansu import TansuTransport

            return TansuTransport(self.conf.broker_consumer, self)
        return CryptoflowTransport(self.conf.broker_consumer, self)

    def _keep_answers(self, *_: Any, **__: Any) -> None:
        """Recovery is complete: the tables change only by the agents' writes again."""
        self.answers.resume()

    async def on_start(self) -> None:
        # The worker has set up logging by now; what follows starts the services whose
        # progress would fill the log (cryptoflow/logs.py).
        quiet_frameworks()
        await super().on_start()
        log.info("cryptoflow settings: %s", self.settings.describe())
        for warning in self.settings.warnings():
            log.warning("cryptoflow settings: %s", warning)
        loop = type(asyncio.get_running_loop())
        log.info("cryptoflow: event loop %s.%s", loop.__module__, loop.__qualname__)

    async def on_started(self) -> None:
        """After faust's own ``Worker: Ready``: ready (``/api/health/``), and where to
        point a browser."""
        await super().on_started()
        self.ready = True
        if not self.should_stop:
            log.info("cryptoflow: dashboard at %s", self.conf.canonical_url.with_path("/"))

    async def on_stop(self) -> None:
        # First, so the open event streams end before the web server waits for them
        # (faust stops the app's services after this; aiohttp would wait 60 s).
        self.live_feed.close()
        await super().on_stop()

    async def on_shutdown(self) -> None:
        # After the agents stopped: a write still in flight at the stop finishes (or is
        # cancelled with its batch unacknowledged) instead of failing on a closed client.
        await super().on_shutdown()
        await self.binance.close()
        await self.store.close()


def build_app() -> CryptoflowApp:
    """Read the settings; a bad value ends the process with one line naming it. The
    event loop is chosen here, on import, before ``faust -A cryptoflow worker`` makes
    its loop (faust's own ``--loop`` option is stored and never applied)."""
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        raise SystemExit(f"cryptoflow: invalid setting {err}") from None
    if settings.event_loop == "UVLOOP":
        mode.loop.use("uvloop")
    return CryptoflowApp(settings)


app = build_app()
prometheus_sensors(app)
