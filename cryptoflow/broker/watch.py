"""Stop the worker when the broker has forgotten its topics, instead of spinning.

A memory-only broker (the local stack's Tansu) comes back from a restart empty;
faust then loops on UnknownTopicOrPartition and may ignore SIGTERM
(docs/development/local-stack.md). Every worker asks the broker now and then whether the symbol
topics still exist; if they are gone it logs one clear line and crashes the
worker, which exits non-zero so a supervisor (or the user) restarts it after the
broker. A broker that does not answer is not this check's business: the
consumer reconnects by itself, and /api/health/ reports it.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaError

from cryptoflow.app import app
from cryptoflow.broker.topics import tick_topics
from cryptoflow.exceptions import BrokerStateLost

log = logging.getLogger(__name__)

CHECK_INTERVAL = 5.0
# Set once the broker has shown every topic: only topics it had can be lost (a worker
# that starts slowly on a busy machine may not have declared them at the first check).
seen = asyncio.Event()


@app.timer(CHECK_INTERVAL, name="broker_watch")
async def check_broker_topics() -> None:
    # faust keeps its aiokafka producer private; its client asks the broker.
    client = app.producer._ensure_producer().client  # type: ignore[attr-defined]  # private, on faust's aiokafka Producer only
    try:
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout=CHECK_INTERVAL)
    except (KafkaError, TimeoutError) as err:
        log.warning("broker watch: no metadata from the broker (%s); will ask again", err)
        return
    expected = {topic.get_topic_name() for topic in tick_topics.values()}
    missing = sorted(expected - set(metadata.topics()))
    if not missing:
        seen.set()
    elif seen.is_set():  # lost, not just not declared yet by a worker still starting
        message = (f"the broker lost its topics {', '.join(missing)} (a memory-only broker "
                   f"restarted?); stopping: start the worker again once the broker is back")
        log.critical(message)
        await app.crash(BrokerStateLost(message))
