"""The one agent that reads ``cryptoflow-ticks``: each stored tick counted into the
statistics (agents/stats.py) and checked for a price jump (agents/alerts.py).

One agent, not one per concern: every agent on a topic is one more crossing of faust
per event (its own stream, buffer and acknowledgement), and faust's per-event cost
bounds ingestion here (bench/README.md). A batch's offsets move on only after both
have done with it (``written_batches``); each keeps its own exactly-once rule (the
windows' origin marks, the previous tick), so reading a batch again changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from faust.types import EventT

from cryptoflow.agents.alerts import detect_jumps, prepare_alerts, publish, remember_previous
from cryptoflow.agents.batches import acting_for, written_batches
from cryptoflow.agents.stats import count_ticks
from cryptoflow.app import app
from cryptoflow.broker.topics import message_origin, send_dead_letter, sightings, ticks_topic
from cryptoflow.exceptions import InvalidRecord
from cryptoflow.records import PriceTick
from cryptoflow.tables.jumps import Alert
from cryptoflow.tables.stats import Sighting


@app.agent(ticks_topic)
async def stored_ticks(stream: Any) -> None:
    await prepare_alerts()
    async for events in written_batches(
        stream, app.settings.batch_size, app.settings.batch_linger,
    ):
        alerts: list[Alert] = []
        moved: list[tuple[str, Any, PriceTick]] = []
        for symbol, (last, seen) in (await by_symbol(events)).items():
            with acting_for(last):
                count_ticks(symbol, [sighting for _, sighting in seen])
            found, previous = detect_jumps(symbol, [tick for tick, _ in seen])
            alerts += found
            if previous is not None:
                moved.append((symbol, last, previous))
        if alerts:
            await publish(alerts)
        for symbol, last, previous in moved:  # after the alerts are out (detect_jumps)
            with acting_for(last):
                remember_previous(symbol, previous)


async def by_symbol(events: list[EventT[bytes]]) -> dict[
        str, tuple[EventT[bytes], list[tuple[PriceTick, Sighting | None]]]]:
    """A batch's ticks per symbol in stream order, with the last event that held one (a
    symbol's records share its partition, where its table writes go). A record that
    holds no ticks goes to the dead letters (anyone may write to the topic)."""
    now = datetime.now(UTC)
    ticks: dict[str, list[tuple[PriceTick, Sighting | None]]] = defaultdict(list)
    last: dict[str, EventT[bytes]] = {}
    for event in events:
        message = event.message
        try:
            found = sightings(event.value, event.headers, now)
        except InvalidRecord as err:
            await send_dead_letter(
                event.value, err.reason,
                message_origin(message.topic, message.partition, message.offset), message.key)
            continue
        for tick, sighting in found:
            ticks[tick.symbol].append((tick, sighting))
            last[tick.symbol] = event
    return {symbol: (last[symbol], seen) for symbol, seen in ticks.items()}
