"""Trades from before the recording (archive files, REST by time) written as recording live
writes them: the same ``trades`` documents, the same candles, and the ledger told.

``HistoryWriter`` takes one symbol's trades in id order, batch by batch, from one source
(``imported`` or ``backfilled``, the ledger part it writes). Each batch is inserted like
the trades agent's (``_id`` the natural key: a trade already stored, live or by an
earlier run, is a duplicate, never a second document); the valid ones are folded into
1-minute candles with the live path's own ``fold_trades``, and a candle is written when a
trade of a later minute closes it (``finish`` closes the last one: the source covers
whole minutes). The ids stored are added to the ledger part of their hour, a
read-modify-write of that part alone, made when the hour is passed and at ``finish``; an
hour the source covered from its start to its end is marked ``complete``, so a rerun can
skip it. Running it again over the same trades changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptoflow.records import Trade
from cryptoflow.sinks.mongo import COVERAGE, TRADES, TickStore
from cryptoflow.tables.coverage import (
    HOUR_MS,
    Ranges,
    add_ids,
    hour_start_ms,
    ledger_id,
    union,
)
from cryptoflow.tables.series import CANDLES_1M
from cryptoflow.tables.trade_candles import CandleState, candle_document, fold_trades

PARTS = ("imported", "backfilled")


@dataclass
class Written:
    """What a writer did: trades new in the database, trades it held already, candles."""

    inserted: int = 0
    present: int = 0
    candles: int = 0
    rejected: list[tuple[dict[str, Any], str]] = field(default_factory=list)


@dataclass
class _Hour:
    start_ms: int
    first_ms: int  # the time of its first trade (the lowest id: they come in id order)
    ids: list[int] = field(default_factory=list)
    invalid: list[int] = field(default_factory=list)


class HistoryWriter:
    """Writes one symbol's past trades from one source; ``finish()`` when done."""

    def __init__(self, store: TickStore, symbol: str, part: str,
                 covers: tuple[int, int] | None = None) -> None:
        """``covers``: [start_ms, end_ms) the source holds every trade of, for
        ``complete`` hours (None: no hour is marked complete)."""
        if part not in PARTS:
            raise ValueError(f"a history part is one of {PARTS}, not {part!r}")
        self.store, self.symbol, self.part, self.covers = store, symbol, part, covers
        self.written = Written()
        self._candle: CandleState | None = None
        self._hour: _Hour | None = None
        self._last_id = -1

    async def write(self, trades: Sequence[Trade]) -> None:
        """The next trades of the symbol (ids above those written before)."""
        trades = [trade for trade in trades if trade.trade_id > self._last_id]
        if not trades:
            return
        self._last_id = trades[-1].trade_id
        outcome = await self.store.insert(TRADES, [trade.to_document() for trade in trades])
        self.written.inserted += len(outcome.inserted)
        self.written.present += len(outcome.duplicates)
        self.written.rejected += outcome.rejected
        refused = {document["trade_id"] for document, _ in outcome.rejected}
        stored = [trade for trade in trades if trade.trade_id not in refused]
        forming, closed, _late = fold_trades(
            self._candle, [trade for trade in stored if not trade.invalid])
        self._candle = forming
        await self._write_candles(closed)
        for trade in stored:
            start = hour_start_ms(trade.time_ms)
            if self._hour is None or start > self._hour.start_ms:
                await self._write_hour()
                self._hour = _Hour(start, trade.time_ms)
            self._hour.ids.append(trade.trade_id)
            if trade.invalid:
                self._hour.invalid.append(trade.trade_id)

    async def finish(self) -> Written:
        """Write the last candle and hour; returns what was written in all."""
        if self._candle is not None:
            await self._write_candles([self._candle])
            self._candle = None
        await self._write_hour()
        self._hour = None
        return self.written

    async def _write_candles(self, candles: list[CandleState]) -> None:
        if candles:
            await self.store.replace(
                CANDLES_1M, [candle_document(self.symbol, candle) for candle in candles])
            self.written.candles += len(candles)

    async def _write_hour(self) -> None:
        hour = self._hour
        if hour is None or not hour.ids:
            return
        start = datetime.fromtimestamp(hour.start_ms / 1000, tz=UTC)
        key = ledger_id(self.symbol, start)
        stored = await self.store.by_ids(COVERAGE, [key])
        part = (stored[0].get(self.part) if stored else None) or {}
        ids: Ranges = add_ids(part.get("ids") or [], hour.ids)
        invalid: Ranges = add_ids(part.get("invalid") or [], hour.invalid)
        firsts = [hour.first_ms, part.get("first_ms")]
        complete = bool(part.get("complete")) or (
            self.covers is not None
            and self.covers[0] <= hour.start_ms and hour.start_ms + HOUR_MS <= self.covers[1])
        await self.store.set_fields(COVERAGE, [{
            "_id": key, "symbol": self.symbol, "hour": start,
            self.part: {"ids": union(ids), "filled": [], "invalid": invalid,
                        "complete": complete,
                        "first_ms": min(first for first in firsts if isinstance(first, int))},
        }])
