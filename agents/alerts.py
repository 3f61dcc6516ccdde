"""Price-jump alerts: each stored tick against the previous one of its symbol.

Reads ``cryptoflow-ticks`` (validated, newly stored ticks). A move beyond
``CRYPTOFLOW_JUMP_THRESHOLD`` becomes an ``Alert`` in the ``alerts`` collection
(its ``_id`` is symbol + ts, so a redelivered tick makes no second document) and
on the ``alerts`` topic, and is shown on the live dashboard.
"""

from __future__ import annotations

import logging
from typing import Any

from cryptoflow.app import app
from cryptoflow.records import format_ts
from cryptoflow.tables.jumps import price_jump
from cryptoflow.tables.price_tables import previous_ticks
from cryptoflow.topics import alerts_topic, deliver, ticks_topic

log = logging.getLogger(__name__)

COLLECTION = "alerts"


@app.agent(ticks_topic)
async def detect_jumps(stream: Any) -> None:
    await app.store.ensure_alert_index(COLLECTION)
    # Declared here, not by a first send: no agent reads it, so faust would not create
    # it at start, and a send to a missing topic waits for metadata that never comes.
    await alerts_topic.maybe_declare()
    async for tick in stream:
        previous = previous_ticks.get(tick.symbol)
        alert = price_jump(previous, tick, app.settings.jump_threshold)
        if previous is None or tick.ts > previous.ts:
            previous_ticks[tick.symbol] = tick
        if alert is None:
            continue
        outcome = await app.store.insert(COLLECTION, [alert.to_document()])
        if outcome.rejected:
            log.error("alert %s not stored: %s", alert, outcome.rejected[0][1])
        await deliver(alerts_topic, [{"key": alert.symbol, "value": alert}])
        event = {"type": "alert", **alert.asdict(),
                 "from_ts": format_ts(alert.from_ts), "ts": format_ts(alert.ts)}
        app.live_feed.publish(event)
        log.info("price jump: %s %.2f%% (%s -> %s)", alert.symbol, alert.change_pct,
                 alert.from_price, alert.to_price)
