"""Every worker's live feed sees every tick, whichever worker owns its symbol.

The stats agent only sees the ticks of the partitions this worker owns. A browser
connected to any worker should see all symbols, so each worker also reads
``cryptoflow-ticks`` with a plain consumer outside the consumer group (no group:
all partitions, from the newest offset, nothing committed) and publishes each
tick to the app's ``LiveFeed``.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from cryptoflow.app import app
from cryptoflow.broker.topics import ticks_topic
from cryptoflow.records import PriceTick
from cryptoflow.web.livefeed import tick_event

log = logging.getLogger(__name__)


@app.task
async def feed_live_ticks() -> None:
    consumer = AIOKafkaConsumer(
        ticks_topic.get_topic_name(),
        bootstrap_servers=[f"{url.host}:{url.port or 9092}" for url in app.conf.broker],
        group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
        **credentials_to_aiokafka_auth(app.settings.broker_credentials()),
    )
    await consumer.start()
    try:
        async for message in consumer:
            if app.live_feed.subscribers:  # nobody watching: no decoding either
                app.live_feed.publish(tick_event(PriceTick.loads(message.value)))
    except KafkaError as err:
        log.error("live feed: %s; the dashboard gets no live ticks until a restart", err)
    finally:
        await consumer.stop()
