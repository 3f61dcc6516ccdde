"""Keep the latest tick and the rolling statistics of every symbol up to date.

Reads ``cryptoflow-ticks``: only ticks that passed validation and were newly
stored. A tick redelivered by the broker is recognised by its offset and skipped,
so the statistics count each stored tick once.
"""

from __future__ import annotations

from typing import Any

from cryptoflow.app import app
from cryptoflow.livefeed import stats_event
from cryptoflow.tables.price_tables import counted_offsets, latest_ticks, window_tables
from cryptoflow.topics import ticks_topic


@app.agent(ticks_topic)
async def update_stats(stream: Any) -> None:
    async for event in stream.events():
        tick, offset = event.value, event.message.offset
        if offset <= counted_offsets.get(tick.symbol, -1):
            continue
        counted_offsets[tick.symbol] = offset
        latest = latest_ticks.get(tick.symbol)
        if latest is None or tick.ts >= latest.ts:
            latest_ticks[tick.symbol] = tick
        for window, table in window_tables.items():
            table[tick.symbol] += tick
            current = table[tick.symbol].value()  # the window holding tick.ts
            app.live_feed.publish(stats_event(tick.symbol, window, current.summary()))
