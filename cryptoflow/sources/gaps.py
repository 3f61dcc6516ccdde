"""The arithmetic of gap-free trade streams. Pure: no sockets, no clock of its own.

Binance numbers a symbol's aggregate trades consecutively (``a``), so the last id
handed on is all a stream needs to know: the next live trade is the next id, a
duplicate (at or below it: a reconnect's overlap, a second worker's handover), or
the far side of a gap whose ids must be fetched from REST before it is handed on.
An id that would leave more than ``max_jump`` ids missing, or lies more than that
below the last one, is none of these but
implausible: a corrupt frame, an exchange's bug or an attack, which must neither start
a fill of a billion ids nor move the sequence so that the genuine trades after it look
like duplicates. ``SuspectRun`` keeps such trades aside until the next trade says what
they were: it continues them (the exchange really moved: a sequence reset) or the old
sequence goes on (they were bogus).

``TradeSequence`` decides which; ``Gap`` names a missing range; ``page_coverage``
says what one REST page filled and what it shows to be missing for good;
``AttemptWindow`` keeps connection attempts under Binance's limit and ``PongSchedule``
the pongs under its 5 messages a second.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

Item = TypeVar("Item")


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
    FAR = "far"  # more than max_jump away: implausible until the next trade confirms it


def classify(last_id: int | None, trade_id: int, max_jump: int) -> Verdict:
    """What ``trade_id`` is to a sequence whose last id is ``last_id`` (None: nothing
    yet, so the first trade seen starts the sequence)."""
    if last_id is None or trade_id == last_id + 1:
        return Verdict.NEXT
    if trade_id <= last_id:
        return Verdict.DUPLICATE if last_id - trade_id <= max_jump else Verdict.FAR
    return Verdict.GAP if trade_id - last_id - 1 <= max_jump else Verdict.FAR


class TradeSequence:
    """The last aggregate trade id handed on for one symbol (None: nothing yet, so the
    first trade seen starts the sequence); gaps of at most ``max_jump`` ids are filled,
    trades farther away in either direction are ``Verdict.FAR``."""

    def __init__(self, symbol: str, last_id: int | None = None, max_jump: int = 10**6) -> None:
        self.symbol = symbol
        self.last_id = last_id
        self.max_jump = max_jump

    def classify(self, trade_id: int) -> Verdict:
        return classify(self.last_id, trade_id, self.max_jump)

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


CONFIRMING = 2  # consecutive far trades that show the exchange really moved there


@dataclass
class SuspectRun(Generic[Item]):
    """Far trades kept aside: one run of consecutive ids (each with its ``Item``), at most
    ``CONFIRMING`` long. A trade that does not continue the run replaces it."""

    items: list[tuple[int, Item]] = field(default_factory=list)

    def add(self, trade_id: int, item: Item) -> list[Item]:
        """Keep ``trade_id``; returns the run it ends (not continued by it), if any."""
        ended: list[Item] = []
        if self.items and trade_id != self.items[-1][0] + 1:
            ended = self.take()
        self.items.append((trade_id, item))
        return ended

    @property
    def confirmed(self) -> bool:
        """The run is as long as it takes to be believed."""
        return len(self.items) >= CONFIRMING

    @property
    def last_id(self) -> int | None:
        return self.items[-1][0] if self.items else None

    def take(self) -> list[Item]:
        """The run's items, in order; the run is empty after."""
        items = [item for _, item in self.items]
        self.items = []
        return items


class PongSchedule:
    """When a connection may answer a ping: at once, unless it answered one less than
    ``every`` seconds ago; then once that time has passed, with the latest ping's payload
    (pings that came meanwhile are answered together). A flood of pings so costs at
    most one pong per ``every`` seconds, within Binance's 5 messages a second."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self._payload: bytes | None = None
        self._last_sent = float("-inf")

    def ping(self, payload: bytes) -> None:
        self._payload = payload

    def due_at(self) -> float | None:
        """The time the pending pong may go (None: no ping waits for an answer)."""
        return None if self._payload is None else self._last_sent + self.every

    def take(self, now: float) -> bytes | None:
        """The payload to send now, if a pong is pending and allowed; it counts as sent."""
        due = self.due_at()
        if due is None or now < due:
            return None
        payload, self._payload, self._last_sent = self._payload, None, now
        return payload
