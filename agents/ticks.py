"""The one agent that reads ``{prefix}-ticks``: each stored tick counted into the
statistics (agents/stats.py) and checked for a price jump (agents/alerts.py).

One agent, not one per concern: every agent on a topic is one more crossing of faust
per event (its own stream, buffer and acknowledgement), and faust's per-event cost
bounds ingestion here (bench/README.md). A batch's offsets move on only after both
have done with it (``written_batches``); each keeps its own exactly-once rule (the
windows' origin marks, the previous tick), so reading a batch again changes nothing.
A record that holds no stored ticks, or one on another partition than its symbol's,
goes to the dead letters (``checked_by_symbol``): anyone may write to the topic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from cryptoflow.agents.alerts import detect_jumps, prepare_alerts, publish, remember_previous
from cryptoflow.agents.batches import acting_for, checked_by_symbol, written_batches
from cryptoflow.agents.stats import count_ticks
from cryptoflow.app import app
from cryptoflow.broker.topics import sightings, symbol_partition, ticks_topic
from cryptoflow.records import PriceTick, parse_stored_ticks
from cryptoflow.tables.jumps import Alert


@app.agent(ticks_topic)
async def stored_ticks(stream: Any) -> None:
    await prepare_alerts()
    async for events in written_batches(
        stream, app.settings.batch_size, app.settings.batch_linger,
    ):
        alerts: list[Alert] = []
        moved: list[tuple[str, Any, PriceTick]] = []
        parse = partial(parse_stored_ticks, symbols=app.settings.tick_symbols,
                        now=datetime.now(UTC))
        for symbol, group in (await checked_by_symbol(events, parse, symbol_partition)).items():
            seen = [one for _, record in group for one in sightings(record)]
            last = group[-1][0]
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
