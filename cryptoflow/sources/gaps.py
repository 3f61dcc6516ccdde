"""The arithmetic of gap-free trade streams. Pure: no sockets, no clock of its own.

Binance numbers a symbol's aggregate trades consecutively (``a``), so the last id
handed on is all a stream needs to know: the next live trade is the next id, a
duplicate (at or below it: a reconnect's overlap, a second worker's handover), or
the far side of a gap whose ids must be fetched from REST before it is handed on.
``TradeSequence`` decides which; ``Gap`` names a missing range; ``page_coverage``
says what one REST page filled and what it shows to be missing for good;
``AttemptWindow`` keeps connection attempts under Binance's limit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Gap:
    """Aggregate trade ids ``first_id..last_id`` (inclusive) of ``symbol``."""

    symbol: str
    first_id: int
    last_id: int

    @property
    def size(self) -> int:
        return self.last_id - self.first_id + 1


class Verdict(Enum):
    NEXT = "next"  # hand it on
    DUPLICATE = "duplicate"  # handed on before: drop it
    GAP = "gap"  # ids are missing before it: fill them first


class TradeSequence:
    """The last aggregate trade id handed on for one symbol (None: nothing yet, so the
    first trade seen starts the sequence)."""

    def __init__(self, symbol: str, last_id: int | None = None) -> None:
        self.symbol = symbol
        self.last_id = last_id

    def classify(self, trade_id: int) -> Verdict:
        if self.last_id is None or trade_id == self.last_id + 1:
            return Verdict.NEXT
        if trade_id <= self.last_id:
            return Verdict.DUPLICATE
        return Verdict.GAP

    def gap_before(self, trade_id: int) -> Gap:
        """The ids missing between the last one handed on and ``trade_id``."""
        assert self.last_id is not None  # noqa: S101 (only GAP verdicts come here)
        return Gap(self.symbol, self.last_id + 1, trade_id - 1)

    def advance(self, trade_id: int) -> None:
        self.last_id = trade_id


@dataclass(frozen=True)
class PageCoverage:
    """What one page of ``aggTrades?fromId=`` did for a fill that needs ``wanted..``:
    the ids to hand on, in order, the ranges the exchange no longer has (it answered
    from a later id, or skipped ids inside the page), and the next id to ask for."""

    take: list[int]
    missing: list[tuple[int, int]]
    next_id: int


def page_coverage(wanted: int, page_ids: Sequence[int], stop_before: int | None) -> PageCoverage:
    """Split a page (its aggregate ids, ascending) into what fills ``wanted..`` and what
    is missing for good. Ids from ``stop_before`` on are the live stream's, which holds
    them already: the fill ends there."""
    take: list[int] = []
    missing: list[tuple[int, int]] = []
    expected = wanted
    for trade_id in page_ids:
        if stop_before is not None and trade_id >= stop_before:
            break
        if trade_id < expected:
            continue  # before what was asked: an exchange answering loosely
        if trade_id > expected:
            missing.append((expected, trade_id - 1))
        take.append(trade_id)
        expected = trade_id + 1
    return PageCoverage(take=take, missing=missing, next_id=expected)


class AttemptWindow:
    """At most ``limit`` connection attempts in any ``per`` seconds (Binance: 300 per
    5 minutes per IP; going past it gets the IP banned)."""

    def __init__(self, limit: int = 300, per: float = 300.0) -> None:
        self.limit = limit
        self.per = per
        self._attempts: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds to wait before an attempt at ``now`` is allowed (0: go)."""
        while self._attempts and self._attempts[0] <= now - self.per:
            self._attempts.popleft()
        if len(self._attempts) < self.limit:
            return 0.0
        return self._attempts[0] + self.per - now

    def record(self, now: float) -> None:
        self._attempts.append(now)
