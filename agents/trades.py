"""Record every aggregate trade: MongoDB ``trades`` exactly once, candles, trade windows.

One agent and one pass per trade (faust's per-event cost is the first limit,
docs/development/local-stack.md). A batch of the ``trades`` topic is checked (bad or
misplaced messages go to the dead letters), written with ``insert_many`` (the ``_id`` is
the natural key, so a redelivered or re-fetched trade is a duplicate key, not a second
document), then per symbol counted into its trade state (table ``trade-state``: the
forming 1-minute candle and the open 1m/5m/1h windows, one changelog write per symbol
and batch; tables/trade_state.py). Closed candles are upserted into ``candles_1m`` at
once, the forming one at most every ``CRYPTOFLOW_FORMING_CANDLE_INTERVAL``
(``FormingCandleWrites``; a timer writes the ones left waiting when trading pauses, and
those this worker has not written since it took the symbol over); closed windows go to
their windowed tables. The state carries the highest trade id it counted, so a trade
read again (after a crash between the write and the commit, or a handover) counts
nowhere twice. The batch's offsets are acknowledged after all of it, so nothing is
committed past unwritten data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from faust.types import EventT

from cryptoflow import metrics
from cryptoflow.agents.batches import (
    acting_for,
    checked_by_symbol,
    write_windows,
    written_batches,
)
from cryptoflow.app import app
from cryptoflow.broker.topics import (
    DeadLetter,
    owned_symbols,
    send_dead_letters,
    symbol_partition,
    trades_topic,
)
from cryptoflow.jobs import CANDLES
from cryptoflow.records import Trade, parse_trade
from cryptoflow.sinks.mongo import COVERAGE, TRADES
from cryptoflow.tables.market_tables import trade_states, trade_windows
from cryptoflow.tables.series import public_candle
from cryptoflow.tables.trade_candles import FormingCandleWrites, candle_document
from cryptoflow.tables.trade_state import Advanced, advance
from cryptoflow.tables.trade_stats import TradeStats
from cryptoflow.web.livefeed import trades_event

log = logging.getLogger(__name__)

candle_writes = FormingCandleWrites(app.settings.forming_candle_interval)
# The open hour's ledger document goes out on the same schedule as the forming candle.
ledger_writes = FormingCandleWrites(app.settings.forming_candle_interval)
# One write into candles_1m at a time (the agent's or the timer's), so an older
# document of a candle never lands after a newer one.
candle_writing = asyncio.Lock()


@app.agent(trades_topic)
async def record_trades(stream: Any) -> None:
    await app.store.set_retention([TRADES], app.settings.trade_retention_days)
    async for events in written_batches(
        stream, app.settings.batch_size, app.settings.batch_linger,
    ):
        await record_batch(events)


async def record_batch(events: Sequence[EventT[bytes]]) -> None:
    now = datetime.now(UTC)
    groups = await checked_by_symbol(
        events, partial(parse_trade, symbols=app.settings.symbols, now=now), symbol_partition)
    stored = await store([trade for group in groups.values() for _, trade in group])
    candles: list[dict[str, Any]] = []
    ledger: list[dict[str, Any]] = []
    updates: list[tuple[str, EventT[bytes], Advanced, list[Trade], list[dict[str, Any]]]] = []
    clock = time.monotonic()  # when this batch's candles count as written
    for symbol, group in groups.items():
        trades = [trade for _, trade in group if trade.trade_id in stored.get(symbol, ())]
        advanced = advance(trade_states.get(symbol), trades) if trades else None
        if advanced is None:
            continue
        trades = [trade for trade in trades if not trade.invalid]
        hour = advanced.state.ledger
        ledger += ledger_writes.after_batch(
            symbol, [closed.document(symbol) for closed in advanced.closed_hours],
            hour.document(symbol) if hour is not None else None, clock)
        if late := advanced.late:
            metrics.LATE_TRADES.inc(len(late))
            log.warning("%s: %d trade(s) timed before the forming candle's minute, counted "
                        "in no candle (first id %d)", symbol, len(late), late[0].trade_id)
        written = [candle_document(symbol, candle) for candle in advanced.closed_candles]
        candle = advanced.state.candle
        forming = candle_document(symbol, candle) if candle is not None else None
        candles += candle_writes.after_batch(symbol, written, forming, clock)
        if forming is not None:
            written.append(forming)
        updates.append((symbol, group[-1][0], advanced, trades, written))
    # Candles first, tables after: a stop in between leaves the tables behind, so the
    # trades are read again and the same candles written again (idempotent upserts).
    # A forming candle left waiting is not in MongoDB yet: its table is, and after a
    # stop the next worker writes it from there (write_forming_candles).
    async with candle_writing:
        await app.store.replace(CANDLES, candles + candle_writes.due(clock))
        await app.store.set_fields(COVERAGE, ledger + ledger_writes.due(clock))
    for symbol, last_event, advanced, trades, written in updates:
        with acting_for(last_event):
            # Closed windows before the state: a stop in between writes them again.
            write_windows(trade_windows, symbol, advanced.closed_windows, advanced.past,
                          uncounted_trades)
            trade_states[symbol] = advanced.state
        if app.live_feed.subscribers:
            app.live_feed.publish(trades_event(
                symbol, trades, [public_candle(doc, now) for doc in written]))


async def write_forming_candles() -> None:
    """Write the forming candles that are due although their symbol had no batch since
    (trading paused), and, once after this worker took a symbol over, its forming candle
    as its table holds it (the last one written may be older)."""
    owned = owned_symbols()
    if owned is None:
        return
    async with candle_writing:
        now = time.monotonic()
        candle_writes.keep_only(owned)
        ledger_writes.keep_only(owned)
        candles, ledger = candle_writes.due(now), ledger_writes.due(now)
        for symbol in owned:
            state = None if candle_writes.known(symbol) else trade_states.get(symbol)
            if state is not None and state.candle is not None:
                # not known: written at once, as a first batch's would be
                candles += candle_writes.after_batch(
                    symbol, [], candle_document(symbol, state.candle), now)
            state = None if ledger_writes.known(symbol) else trade_states.get(symbol)
            if state is not None and state.ledger is not None:
                ledger += ledger_writes.after_batch(
                    symbol, [], state.ledger.document(symbol), now)
        await app.store.replace(CANDLES, candles)
        await app.store.set_fields(COVERAGE, ledger)


if "trades" in app.settings.streams and app.settings.forming_candle_interval > 0:
    app.timer(app.settings.forming_candle_interval, name="forming_candles")(
        write_forming_candles)


def uncounted_trades(part: Sequence[Trade], current: TradeStats) -> TradeStats | None:
    fresh = TradeStats.of(part, after_id=current.last_trade_id)
    return fresh if fresh.agg_trades else None


async def store(trades: list[Trade]) -> dict[str, set[int]]:
    """Write the trades; returns the ids per symbol now in MongoDB (new or already there).
    One the database rejects goes to the dead letters (the batch's together) and is
    counted nowhere."""
    if not trades:
        return {}
    documents = [trade.to_document() for trade in trades]
    with metrics.BATCH_WRITE_SECONDS.labels(TRADES).time():
        outcome = await app.store.insert(TRADES, documents)
    metrics.TRADES_PERSISTED.inc(len(outcome.inserted))
    metrics.DUPLICATES_SKIPPED.labels(TRADES).inc(len(outcome.duplicates))
    await send_dead_letters([
        DeadLetter(repr(document).encode(), reason, f"{TRADES}/{document['_id']}")
        for document, reason in outcome.rejected])
    stored: dict[str, set[int]] = {}
    for document in outcome.inserted + outcome.duplicates:
        stored.setdefault(document["symbol"], set()).add(document["trade_id"])
    return stored
