"""The recording compared with an independent source, field by field. Pure.

``verify`` (cryptoflow/commands/verify.py) reads both sides and hands them here:

* Minutes: a 1-minute candle rebuilt from the stored trades (``candle_document`` of the
  live path's ``fold_trades``) against Binance's kline of the same minute (REST or a
  klines archive), both as mappings of ``MINUTE_FIELDS``. The rule is ``Kline``'s
  (cryptoflow/sources/binance.py): every field equal, except the quote volumes, which
  Binance prints rounded to 8 places and which so agree within
  ``math.isclose(rel_tol=1e-15, abs_tol=1e-8)``. A minute with a candle on one side only
  is a difference of field ``present``, unless the side that has it counts no trade
  (Binance serves a kline of 0 trades for a minute nothing traded in, a minute the
  recording cannot rebuild).
* Trades: a stored trade document against the aggregate trade Binance lists (an archive
  row, a REST item), id by id, as mappings of ``TRADE_FIELDS``: price, quantity, the raw
  trade range (first and last trade id), time (ms) and buyer-maker. An id Binance marks
  invalid is stored as it serves it (price and quantity 0, first and last trade id -1),
  so it compares like any other. An id on one side only is a difference of field
  ``present``.

Which minutes a recording covers whole is ``compared_minutes``; the counts per hour, for
the ledger, ``per_hour``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
MINUTE_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "trades",
                 "taker_buy_volume", "taker_buy_quote_volume")
ROUNDED_FIELDS = frozenset({"quote_volume", "taker_buy_quote_volume"})  # 8 places at Binance
TRADE_FIELDS = ("price", "qty", "first_trade_id", "last_trade_id", "time_ms",
                "is_buyer_maker")
PRESENT = "present"  # the field of a minute or trade that one side does not have

Kind = Literal["minute", "trade"]
Fields = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Difference:
    """One field on which the recording and the source disagree: of a minute (``key`` its
    open time, epoch ms) or of an aggregate trade (``key`` its id). ``at_ms`` is the time
    it belongs to (the minute's start, the trade's time), which gives its ledger hour.
    For ``PRESENT``, ``recorded`` and ``source`` say which side has it."""

    kind: Kind
    key: int
    field: str
    recorded: Any
    source: Any
    at_ms: int

    @property
    def hour_ms(self) -> int:
        return self.at_ms - self.at_ms % HOUR_MS

    def describe(self, source: str) -> str:
        """One line: what differs, and both values (``source`` names the other side)."""
        what = (f"minute {_moment(self.key)}" if self.kind == "minute"
                else f"id {self.key}")
        if self.field == PRESENT:
            missing = "the recording" if self.source else source
            return f"{what} missing in {missing}"
        return f"{what} {self.field}: recorded {self.recorded!r}, {source} {self.source!r}"


def _moment(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def field_equal(field: str, recorded: Any, source: Any) -> bool:
    """Whether one field agrees, by the rule of the module docstring."""
    if field in ROUNDED_FIELDS and recorded is not None and source is not None:
        return math.isclose(recorded, source, rel_tol=1e-15, abs_tol=1e-8)
    return bool(recorded == source)


def minute_start_ms(time_ms: int) -> int:
    return time_ms - time_ms % MINUTE_MS


def compared_minutes(
    start_ms: int, end_ms: int, first_ms: int, last_ms: int, starts_whole: bool,
    ends_whole: bool,
) -> range:
    """The open times of the minutes of [start_ms, end_ms) (whole minutes) that a
    recording whose first and last stored trades of that range are at ``first_ms`` and
    ``last_ms`` covers whole.

    A symbol's aggregate ids are consecutive and trade time does not decrease along them,
    so every trade between two stored ones has an id between theirs. ``starts_whole``:
    the id before the first one is stored (it is before ``start_ms``), so no trade of the
    range came before the first one: the range is covered from ``start_ms``. Otherwise
    the recording began inside the first trade's minute (or later: its earlier minutes
    are not recorded), and that minute is left out, as partial. Likewise at the end
    (``ends_whole``: the id after the last one is stored, at or after ``end_ms``).
    Between the first and the last trade, a missing id is the recording's difference,
    not a reason to leave a minute out."""
    first = start_ms if starts_whole else minute_start_ms(first_ms) + MINUTE_MS
    last = end_ms if ends_whole else minute_start_ms(last_ms)
    return range(first, max(first, last), MINUTE_MS)


def minute_differences(
    rebuilt: Mapping[int, Fields], klines: Mapping[int, Fields], minutes: Iterable[int],
) -> list[Difference]:
    """The differences of the ``minutes`` (open times) between the candles rebuilt from
    the recording and the klines (both by open time)."""
    found: list[Difference] = []
    for start in minutes:
        mine, theirs = rebuilt.get(start), klines.get(start)
        if _traded(mine) and not _traded(theirs):
            found.append(Difference("minute", start, PRESENT, True, False, start))
        elif _traded(theirs) and not _traded(mine):
            found.append(Difference("minute", start, PRESENT, False, True, start))
        elif mine is not None and theirs is not None:
            found += [Difference("minute", start, name, mine.get(name), theirs.get(name), start)
                      for name in MINUTE_FIELDS
                      if not field_equal(name, mine.get(name), theirs.get(name))]
    return found


def _traded(candle: Fields | None) -> bool:
    return candle is not None and bool(candle.get("trades"))


def stored_fields(document: Fields) -> dict[str, Any]:
    """A stored ``trades`` document (``Trade.to_document()``) as ``TRADE_FIELDS``."""
    ts: datetime = document["ts"]
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return {"price": document["price"], "qty": document["qty"],
            "first_trade_id": document["first_trade_id"],
            "last_trade_id": document["last_trade_id"],
            "time_ms": round(ts.timestamp() * 1000), "is_buyer_maker": document["is_buyer_maker"]}


def listed_fields(fields: Fields) -> dict[str, Any]:
    """An aggregate trade as Binance lists it (``a p q f l T m``; an archive row's
    ``fields()``, a REST item) as ``TRADE_FIELDS``; amounts as the floats stored."""
    return {"price": float(fields["p"]), "qty": float(fields["q"]),
            "first_trade_id": int(fields["f"]), "last_trade_id": int(fields["l"]),
            "time_ms": int(fields["T"]), "is_buyer_maker": bool(fields["m"])}


def trade_differences(
    recorded: Mapping[int, Fields], source: Mapping[int, Fields], ids: Iterable[int],
) -> list[Difference]:
    """The differences of the aggregate trades ``ids`` between the stored ones and the
    source's (both by id, as ``TRADE_FIELDS``)."""
    found: list[Difference] = []
    for trade_id in ids:
        mine, theirs = recorded.get(trade_id), source.get(trade_id)
        if mine is None and theirs is None:
            continue
        if mine is None or theirs is None:
            at = (mine or theirs or {})["time_ms"]
            found.append(Difference("trade", trade_id, PRESENT, mine is not None,
                                    theirs is not None, at))
            continue
        found += [Difference("trade", trade_id, name, mine[name], theirs[name], mine["time_ms"])
                  for name in TRADE_FIELDS if mine[name] != theirs[name]]
    return found


def agrees(recorded: Fields | None, other: Fields | None) -> bool:
    """Whether a trade is the same on both sides (both without it counts as the same)."""
    return not trade_differences({0: recorded} if recorded is not None else {},
                                 {0: other} if other is not None else {}, [0])


def per_hour(differences: Iterable[Difference], hours: Iterable[int]) -> dict[int, int]:
    """The number of differences in each of ``hours`` (hour starts, epoch ms), 0 where
    none; a difference outside them is not counted."""
    counts = Counter(difference.hour_ms for difference in differences)
    return {hour: counts[hour] for hour in hours}


def hours_of(spans: Iterable[tuple[int, int]]) -> list[int]:
    """The starts of the hours that the spans [start_ms, end_ms) touch, in order."""
    hours: set[int] = set()
    for start, end in spans:
        if start < end:
            hours.update(range(start - start % HOUR_MS, end, HOUR_MS))
    return sorted(hours)


def result(differences: int) -> str:
    """The ledger's word for an hour, or a whole verification."""
    return "equal" if differences == 0 else "differs"
