"""Keep the latest tick and the rolling statistics of every symbol up to date.

Reads ``cryptoflow-ticks``: ticks that passed validation and are stored. A message
of that topic read again is recognised by its offset and skipped; a tick MongoDB
already held counts only if it is newer than the newest counted (``ticks_to_count``),
so the statistics count each stored tick once. Ticks come in batches: per symbol
and window, a batch's statistics are merged into the table in one write (one
changelog record), not one per tick.
"""

from __future__ import annotations

from typing import Any

from cryptoflow.agents.batches import acting_for, by_symbol, written_batches
from cryptoflow.app import app
from cryptoflow.broker.topics import stored_before, ticks_topic
from cryptoflow.tables.price_tables import counted_offsets, latest_ticks, window_tables
from cryptoflow.tables.stats import RollingStats, ticks_to_count
from cryptoflow.tables.windows import WINDOWS
from cryptoflow.web.livefeed import stats_event


@app.agent(ticks_topic)
async def update_stats(stream: Any) -> None:
    async for events in written_batches(
        stream, app.settings.batch_size, app.settings.batch_linger,
    ):
        for symbol, group in by_symbol(events).items():
            counted = counted_offsets.get(symbol, -1)
            unread = [event for event in group if event.message.offset > counted]
            if not unread:
                continue
            latest = latest_ticks.get(symbol)
            ticks = ticks_to_count(
                ((event.value, stored_before(event.headers)) for event in unread),
                latest.ts if latest is not None else None)
            with acting_for(group[-1]):
                counted_offsets[symbol] = group[-1].message.offset
                if not ticks:
                    continue
                newest = max(ticks, key=lambda tick: tick.ts)
                if latest is None or newest.ts >= latest.ts:
                    latest_ticks[symbol] = newest
                for name, table in window_tables.items():
                    for part in WINDOWS[name].split(ticks).values():
                        table.relative_to(part[0].ts)[symbol] += RollingStats.of(part)
                    if app.live_feed.subscribers:
                        current = table.relative_to(newest.ts)[symbol].value()
                        app.live_feed.publish(stats_event(symbol, name, current.summary()))
