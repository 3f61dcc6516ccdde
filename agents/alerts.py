"""Price-jump alerts: each stored tick against the previous one of its symbol.

Reads ``cryptoflow-ticks`` (validated, stored ticks) in batches; a tick that is
not newer than its symbol's previous one (read again, out of order) never alerts.
A move beyond ``CRYPTOFLOW_JUMP_THRESHOLD`` becomes an ``Alert`` in the ``alerts``
collection (its ``_id`` is symbol + ts, so a redelivered tick makes no second
document) and on the ``alerts`` topic, and is shown on the live dashboard. The
previous tick per symbol is a table, written once per symbol and batch.
"""

from __future__ import annotations

import logging
from typing import Any

from cryptoflow.agents.batches import acting_for, by_symbol, written_batches
from cryptoflow.app import app
from cryptoflow.broker.topics import alerts_topic, deliver, ticks_topic
from cryptoflow.records import PriceTick, format_ts
from cryptoflow.tables.jumps import Alert, price_jump
from cryptoflow.tables.price_tables import previous_ticks

log = logging.getLogger(__name__)

COLLECTION = "alerts"


@app.agent(ticks_topic)
async def detect_jumps(stream: Any) -> None:
    await app.store.ensure_alert_index(COLLECTION)
    # Declared here, not by a first send: no agent reads it, so faust would not create
    # it at start, and a send to a missing topic waits for metadata that never comes.
    await alerts_topic.maybe_declare()
    async for events in written_batches(
        stream, app.settings.batch_size, app.settings.batch_linger,
    ):
        alerts: list[Alert] = []
        for symbol, group in by_symbol(events).items():
            previous: PriceTick | None = previous_ticks.get(symbol)
            before = previous
            for event in group:
                tick = event.value
                alert = price_jump(previous, tick, app.settings.jump_threshold)
                if alert is not None:
                    alerts.append(alert)
                if previous is None or tick.ts > previous.ts:
                    previous = tick
            if previous is not before:
                with acting_for(group[-1]):
                    previous_ticks[symbol] = previous
        if alerts:
            await publish(alerts)


async def publish(alerts: list[Alert]) -> None:
    """Into MongoDB (idempotent), onto the alerts topic, and to the dashboard."""
    outcome = await app.store.insert(COLLECTION, [alert.to_document() for alert in alerts])
    for document, why in outcome.rejected:
        log.error("alert %s not stored: %s", document["_id"], why)
    await deliver(alerts_topic, [{"key": alert.symbol, "value": alert} for alert in alerts])
    for alert in alerts:
        app.live_feed.publish({"type": "alert", **alert.asdict(),
                               "from_ts": format_ts(alert.from_ts), "ts": format_ts(alert.ts)})
        log.info("price jump: %s %.2f%% (%s -> %s)", alert.symbol, alert.change_pct,
                 alert.from_price, alert.to_price)
