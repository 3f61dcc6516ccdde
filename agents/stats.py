"""Keep the latest tick and the rolling statistics of a symbol up to date.

Called by the agent that reads ``cryptoflow-ticks`` (agents/ticks.py) with a batch's
ticks of one symbol: ticks that passed validation and are stored, each with its
origin (where the worker read it from its symbol topic). Every window counts a tick
once by that origin (``uncounted``): the same tick handed on again by the persist
agent after a stop, a crash or a rebalance, or the same message read again, has the
same origin, and each window's value records the origins it has counted. So the
statistics hold exactly the ticks MongoDB holds, after any stop. Per symbol and
window, a batch's statistics are merged into the table in one write (one changelog
record: the statistics and their marks), not one per tick.

A window a batch changed is then published to the live feed as a ``stats`` event with
the fields ``/api/stats/`` answers for it (``api.window_fields``, the one place that
decides): for a symbol whose trades are streamed, the prices of its window's trades
(``price_source: "trades"``) once the window has any, so an event never puts tick
numbers back on a page showing the trades'. The trades agent sends none: a streamed
symbol's statistics go out with its ticks (every poll), and one without ticks has them
from ``/api/stats/`` only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cryptoflow.app import app
from cryptoflow.tables.market_tables import streamed_windows
from cryptoflow.tables.price_tables import latest_ticks, window_tables
from cryptoflow.tables.stats import Sighting, uncounted
from cryptoflow.tables.windows import WINDOWS
from cryptoflow.web.api import window_fields
from cryptoflow.web.livefeed import stats_event

log = logging.getLogger(__name__)


def count_ticks(symbol: str, seen: Sequence[Sighting | None]) -> None:
    """Count a batch's ticks of ``symbol`` (in stream order; None: one without a valid
    origin) into its latest tick and its windows; the caller makes the writes for the
    symbol's partition (``acting_for``)."""
    sightings = [one for one in seen if one is not None]
    if len(sightings) < len(seen):
        log.warning("%s: %d tick(s) without a valid origin not counted "
                    "(not sent by a cryptoflow worker)", symbol, len(seen) - len(sightings))
    if not sightings:
        return
    newest = max(sightings, key=lambda one: one.ts).tick
    latest = latest_ticks.get(symbol)
    if latest is None or newest.ts >= latest.ts:
        latest_ticks[symbol] = newest
    for name, table in window_tables.items():
        counted = False
        for part in WINDOWS[name].split(sightings).values():
            window = table.relative_to(part[0].ts)[symbol]
            fresh = uncounted(window.value(), part)
            if fresh.count:
                window += fresh
                counted = True
        if counted and app.live_feed.subscribers:
            current = table.relative_to(newest.ts)[symbol].value()
            app.live_feed.publish(stats_event(symbol, name, window_fields(
                current, *streamed_windows(WINDOWS[name], symbol, newest.ts))))
