"""Keep the latest tick and the rolling statistics of every symbol up to date.

Reads ``cryptoflow-ticks``: only ticks that passed validation and were newly
stored. A tick redelivered by the broker is recognised by its offset and skipped,
so the statistics count each stored tick once. Ticks come in batches: per symbol
and window, a batch's statistics are merged into the table in one write (one
changelog record), not one per tick.
"""

from __future__ import annotations

from typing import Any

from cryptoflow.agents.batches import acting_for, by_symbol, written_batches
from cryptoflow.app import app
from cryptoflow.livefeed import stats_event
from cryptoflow.tables.price_tables import counted_offsets, latest_ticks, window_tables
from cryptoflow.tables.stats import RollingStats
from cryptoflow.tables.windows import WINDOWS
from cryptoflow.topics import ticks_topic


@app.agent(ticks_topic)
async def update_stats(stream: Any) -> None:
    async for events in written_batches(
        stream, app.settings.batch_size, app.settings.batch_linger,
    ):
        for symbol, group in by_symbol(events).items():
            counted = counted_offsets.get(symbol, -1)
            ticks = [event.value for event in group if event.message.offset > counted]
            if not ticks:
                continue
            with acting_for(group[-1]):
                counted_offsets[symbol] = group[-1].message.offset
                newest = max(ticks, key=lambda tick: tick.ts)
                latest = latest_ticks.get(symbol)
                if latest is None or newest.ts >= latest.ts:
                    latest_ticks[symbol] = newest
                for name, table in window_tables.items():
                    for part in WINDOWS[name].split(ticks).values():
                        table.relative_to(part[0].ts)[symbol] += RollingStats.of(part)
                    if app.live_feed.subscribers:
                        current = table.relative_to(newest.ts)[symbol].value()
                        app.live_feed.publish(stats_event(symbol, name, current.summary()))
