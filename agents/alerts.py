"""Price-jump alerts: each stored tick against the previous one of its symbol.

Called by the agent that reads ``cryptoflow-ticks`` (agents/ticks.py) with a batch's
ticks of one symbol; a tick that is not newer than its symbol's previous one (read
again, out of order) never alerts. A move beyond ``CRYPTOFLOW_JUMP_THRESHOLD`` becomes
an ``Alert`` in the ``alerts`` collection (its ``_id`` is symbol + ts, so a redelivered
tick makes no second document) and on the ``alerts`` topic, and is shown on the live
dashboard. The previous tick per symbol is a table, written once per symbol and batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pymongo import ASCENDING, DESCENDING

from cryptoflow.app import app
from cryptoflow.broker.topics import alerts_topic, deliver
from cryptoflow.records import PriceTick, format_ts
from cryptoflow.tables.jumps import Alert, jumps_in
from cryptoflow.tables.price_tables import previous_ticks

log = logging.getLogger(__name__)

COLLECTION = "alerts"


async def prepare_alerts() -> None:
    """The collection's index, and the topic, before the first alert."""
    await app.store.ensure_index(COLLECTION, [("ts", DESCENDING)], "ts")
    # the newest alerts of one symbol (/api/alerts/?symbol=) from the index alone
    await app.store.ensure_index(COLLECTION, [("symbol", ASCENDING), ("ts", DESCENDING)],
                                 "symbol_ts")
    # Declared here, not by a first send: no agent reads it, so faust would not create
    # it at start, and a send to a missing topic waits for metadata that never comes.
    await alerts_topic.maybe_declare()


def detect_jumps(
    symbol: str, ticks: Sequence[PriceTick],
) -> tuple[list[Alert], PriceTick | None]:
    """The alerts of a batch's ticks of ``symbol`` (in stream order), and the symbol's
    previous tick after them (None: it stays). The table is not written here: the caller
    writes it (``remember_previous``) only once the alerts are published, so a stop in
    between reads the batch again and finds the same alerts, instead of finding the
    previous tick already moved past them."""
    before = previous_ticks.get(symbol)
    alerts, previous = jumps_in(before, ticks, app.settings.jump_threshold)
    return alerts, (previous if previous is not before else None)


def remember_previous(symbol: str, previous: PriceTick) -> None:
    """The symbol's previous tick moved on; the caller makes the write for the symbol's
    partition (``acting_for``)."""
    previous_ticks[symbol] = previous


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
