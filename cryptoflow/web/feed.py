"""Every worker's live feed sees every tick, whichever worker owns its symbol.

The ticks agent (statistics and alerts) only sees the ticks of the partitions this
worker owns. A browser connected to any worker should see all symbols, so each worker also reads
``cryptoflow-ticks`` with a plain consumer outside the consumer group (no group:
all partitions, from the newest offset, nothing committed) and publishes each
tick to the app's ``LiveFeed``. A Kafka error ends that consumer, not the feed: a
new one starts after a backoff pause, for as long as the worker runs (the ticks
in between are not shown; they are stored all the same). A record that is not a
tick (anyone who can write to the topic can send one) is skipped and counted; the
first of each connection is logged.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from cryptoflow.app import app
from cryptoflow.backoff import Backoff
from cryptoflow.broker.topics import ticks_topic
from cryptoflow.exceptions import InvalidRecord
from cryptoflow.metrics import LIVE_FEED_SKIPPED
from cryptoflow.records import parse_stored_ticks
from cryptoflow.web.livefeed import tick_event

log = logging.getLogger(__name__)

RECONNECT = Backoff(base=1.0, cap=30.0)


def _new_consumer() -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        ticks_topic.get_topic_name(),
        bootstrap_servers=[f"{url.host}:{url.port or 9092}" for url in app.conf.broker],
        group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
        **credentials_to_aiokafka_auth(app.settings.broker_credentials()),
    )


@app.task
async def feed_live_ticks() -> None:
    delays = RECONNECT.delays()
    failed = False
    while True:
        consumer = _new_consumer()
        try:
            await consumer.start()
            if failed:
                log.info("live feed: reading %s again", ticks_topic.get_topic_name())
                delays, failed = RECONNECT.delays(), False  # the next failure starts over
            skipped = 0
            async for message in consumer:
                if not app.live_feed.subscribers:  # nobody watching: no decoding either
                    continue
                try:
                    record = parse_stored_ticks(
                        message.value, app.settings.tick_symbols, datetime.now(UTC))
                except InvalidRecord as err:  # not JSON, not ticks
                    LIVE_FEED_SKIPPED.inc()
                    if not skipped:
                        log.warning("live feed: skipping records it cannot read (the first, "
                                    "offset %s: %s); counted in "
                                    "cryptoflow_live_feed_skipped_total", message.offset, err)
                    skipped += 1
                    continue
                for tick, _ in record.ticks:
                    app.live_feed.publish(tick_event(tick))
            problem = "the consumer stopped"
        except KafkaError as err:
            problem = f"{type(err).__name__}: {err}"
        finally:
            await consumer.stop()
        failed = True
        delay = next(delays)
        log.warning("live feed: %s; the dashboard misses live ticks until it reconnects, "
                    "in %.1fs", problem, delay)
        await asyncio.sleep(delay)
