"""The coverage ledger's arithmetic: which aggregate trade ids of a symbol are stored, per
UTC hour, and by which path. Pure.

A symbol's aggregate trade ids are consecutive, so what is stored is a set of id ranges.
The ledger keeps, per symbol and hour, one part per writer:

- ``live``: the trades agent (tables/trade_state.py carries the open hour as
  ``LedgerHour``): every id it counted, those of them filled from REST, and those Binance
  marks invalid;
- ``imported`` (archive files) and ``backfilled`` (REST by time): the ids those commands
  found stored after writing them, and the invalid ones among them.

Each part is a set of ids kept as sorted, disjoint, inclusive ranges (``Ranges``), so
writing a part again with the same ids changes nothing, and what the parts say together is
set arithmetic: the ids stored are their union, and each id counts once, for the first
of live, imported, backfilled that holds it, whichever wrote first (``HourSummary``).
The missing ids of an hour are the holes between its first and last stored id, and
between the last id of one hour and the first of the next.

An id belongs to the hour in which the trades agent counted it while that hour was the
newest it had seen: Binance's trade times do not decrease along ids, so that is the
trade's own hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise

from cryptoflow.records import Record, Trade

HOUR_MS = 3_600_000

Range = tuple[int, int]  # first and last id, inclusive
Ranges = list[list[int]]  # sorted, disjoint, not touching; lists, as JSON and BSON hold them


def hour_start_ms(time_ms: int) -> int:
    return time_ms - time_ms % HOUR_MS


def hour_of(time_ms: int) -> datetime:
    return datetime.fromtimestamp(hour_start_ms(time_ms) / 1000, tz=UTC)


def ledger_id(symbol: str, hour: datetime) -> str:
    """``BTCUSDT:2026-12-07T08``: one ledger document per symbol and hour."""
    return f"{symbol}:{hour.strftime('%Y-%m-%dT%H')}"


def add_ids(ranges: Ranges, ids: Iterable[int]) -> Ranges:
    """``ranges`` with ``ids`` added (a new list; ``ranges`` is not changed)."""
    return union(ranges, [[i, i] for i in sorted(set(ids))])


def union(*parts: Ranges) -> Ranges:
    """The ids in any of ``parts``, as ranges."""
    merged: Ranges = []
    for first, last in sorted(pair for part in parts for pair in part):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return merged


def minus(ranges: Ranges, taken: Ranges) -> Ranges:
    """The ids of ``ranges`` not in ``taken``."""
    left: Ranges = []
    taken = union(taken)
    at = 0
    for first, last in ranges:
        start = first
        while at < len(taken) and taken[at][1] < start:
            at += 1
        probe = at
        while probe < len(taken) and taken[probe][0] <= last:
            if taken[probe][0] > start:
                left.append([start, taken[probe][0] - 1])
            start = max(start, taken[probe][1] + 1)
            probe += 1
        if start <= last:
            left.append([start, last])
    return left


def size(ranges: Ranges) -> int:
    return sum(last - first + 1 for first, last in ranges)


def holes(ranges: Ranges) -> list[Range]:
    """The ids missing between the first and the last of ``ranges`` (a union)."""
    return [(a[1] + 1, b[0] - 1) for a, b in pairwise(ranges)]


class LedgerHour(Record, serializer="json", include_metadata=False):
    """The live part of one symbol's open hour, in the trades agent's state: the ids it
    counted (``ids``), those filled from REST (``filled``) and those invalid at the
    exchange (``invalid``), each as ranges, and the time of its first trade
    (``first_ms``; None in a value written before it was kept)."""

    start_ms: int
    ids: Ranges
    filled: Ranges
    invalid: Ranges
    first_ms: int | None = None

    @classmethod
    def opened(cls, first: Trade) -> LedgerHour:
        """The hour of ``first``, its first trade (the lowest id: they come in id order)."""
        return cls(start_ms=hour_start_ms(first.time_ms), ids=[], filled=[], invalid=[],
                   first_ms=first.time_ms)

    def document(self, symbol: str) -> dict[str, object]:
        """The fields of the hour's ledger document this part sets (``live``)."""
        hour = datetime.fromtimestamp(self.start_ms / 1000, tz=UTC)
        return {"_id": ledger_id(symbol, hour), "symbol": symbol, "hour": hour,
                "live": {"ids": self.ids, "filled": self.filled, "invalid": self.invalid,
                         "first_ms": self.first_ms}}


def fold_ledger(
    hour: LedgerHour | None, trades: Sequence[Trade],
) -> tuple[LedgerHour | None, list[LedgerHour]]:
    """Count ``trades`` (new ids, in id order) into the open hour; returns it and the
    hours closed by a trade of a later hour (oldest first). ``hour`` is not changed."""
    closed: list[LedgerHour] = []
    current = hour
    batch: dict[str, list[int]] = {"ids": [], "filled": [], "invalid": []}

    def settle() -> LedgerHour | None:
        if current is None or not batch["ids"]:
            return current
        return LedgerHour(
            start_ms=current.start_ms, ids=add_ids(current.ids, batch["ids"]),
            filled=add_ids(current.filled, batch["filled"]),
            invalid=add_ids(current.invalid, batch["invalid"]), first_ms=current.first_ms)

    for trade in trades:
        start = hour_start_ms(trade.time_ms)
        if current is None or start > current.start_ms:
            settled = settle()
            if settled is not None:
                closed.append(settled)
            current = LedgerHour.opened(trade)
            batch = {"ids": [], "filled": [], "invalid": []}
        batch["ids"].append(trade.trade_id)
        if trade.filled:
            batch["filled"].append(trade.trade_id)
        if trade.invalid:
            batch["invalid"].append(trade.trade_id)
    return settle(), closed


@dataclass
class HourSummary:
    """One hour of the ledger as a person reads it: the ids stored, by path, and the
    holes (ids missing) in it, from the hour document's parts. ``hole_before`` is the hole
    between the previous hour's last id and this hour's first (set by ``summarise``)."""

    hour: datetime
    first_id: int | None
    last_id: int | None
    stored: int
    streamed: int
    filled: int
    imported: int
    backfilled: int
    invalid: int
    holes: list[Range] = field(default_factory=list)
    verified: dict[str, object] | None = None
    first_ms: int | None = None  # the time of the first trade stored in the hour


    @property
    def missing(self) -> int:
        return sum(last - first + 1 for first, last in self.holes)

    @classmethod
    def of(cls, hour: datetime, document: dict[str, object]) -> HourSummary:
        live, imported, backfilled = (
            _part(document, name) for name in ("live", "imported", "backfilled"))
        all_ids = union(live["ids"], imported["ids"], backfilled["ids"])
        new_imported = minus(imported["ids"], live["ids"])
        new_backfilled = minus(backfilled["ids"], union(live["ids"], imported["ids"]))
        filled = size(live["filled"])
        verified = document.get("verified")
        firsts = [first for name in ("live", "imported", "backfilled")
                  if isinstance(part := document.get(name), dict)
                  and isinstance(first := part.get("first_ms"), int)]
        return cls(
            hour=hour, first_id=all_ids[0][0] if all_ids else None,
            last_id=all_ids[-1][1] if all_ids else None, stored=size(all_ids),
            streamed=size(live["ids"]) - filled, filled=filled,
            imported=size(new_imported), backfilled=size(new_backfilled),
            invalid=size(union(live["invalid"], imported["invalid"], backfilled["invalid"])),
            holes=holes(all_ids), verified=verified if isinstance(verified, dict) else None,
            first_ms=min(firsts, default=None),
        )


def _part(document: dict[str, object], name: str) -> dict[str, Ranges]:
    part = document.get(name)
    if not isinstance(part, dict):
        return {"ids": [], "filled": [], "invalid": []}
    return {key: part.get(key) or [] for key in ("ids", "filled", "invalid")}


def summarise(documents: Sequence[tuple[datetime, dict[str, object]]]) -> list[HourSummary]:
    """The hours of ``documents`` (oldest first), each with the hole between the previous
    hour's last id and its own first id counted in its holes."""
    summaries: list[HourSummary] = []
    last: int | None = None
    for hour, document in documents:
        summary = HourSummary.of(hour, document)
        if summary.first_id is not None:
            if last is not None and summary.first_id > last + 1:
                summary.holes.insert(0, (last + 1, summary.first_id - 1))
            last = summary.last_id
        summaries.append(summary)
    return summaries
