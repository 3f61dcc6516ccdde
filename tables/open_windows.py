"""The open window of each kind in a symbol's table value, and how records move it on. Pure.

A symbol's state value (tables/trade_state.py, tables/book_state.py) holds, per window
kind, the *open* window: the one its newest record falls in. ``move_windows`` counts a
batch into those: a record of the open window is added to it, one of a later window
closes it (returned in ``Moved.closed``, to be *set* once in its windowed table, where
reads of past windows find it) and opens the next, and one of a window before the open
one (only an anomaly of the source's clock makes one) is returned in ``Moved.past``, to
be added to that window in its table. The same loop serves trades and book tickers;
only the statistics (``TradeStats``, ``SpreadStats``) differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from cryptoflow.records import Record
from cryptoflow.tables.trade_stats import SpreadStats, TradeStats
from cryptoflow.tables.windows import WINDOWS, Timed, WindowSpec


class OpenWindow(Record, abstract=True, serializer="json", include_metadata=False):
    """The start (epoch ms) of a window of one kind; subclasses add what it counted."""

    start_ms: int

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_ms / 1000, tz=UTC)


class OpenTradeWindow(OpenWindow, serializer="json", include_metadata=False):
    stats: TradeStats


class OpenSpreadWindow(OpenWindow, serializer="json", include_metadata=False):
    stats: SpreadStats


Stats = TypeVar("Stats", TradeStats, SpreadStats)
Open = TypeVar("Open", OpenTradeWindow, OpenSpreadWindow)


class ClosedWindow(NamedTuple, Generic[Stats]):
    """A window a later record closed: its final statistics, for its windowed table."""

    name: str
    start: datetime
    stats: Stats


class Moved(NamedTuple, Generic[Open, Timed]):
    """The open windows after a batch, the windows it closed and its records of windows
    before the open ones (window name, the records of one window in stream order)."""

    opened: dict[str, Open]
    closed: list[ClosedWindow[Any]]
    past: list[tuple[str, list[Timed]]]


def move_windows(
    opened: Mapping[str, Open], records: Sequence[Timed],
    of: Callable[[Sequence[Timed]], Any], open_window: Callable[..., Open],
    windows: Mapping[str, WindowSpec] = WINDOWS,
) -> Moved[Open, Timed]:
    """``opened`` with ``records`` (new ones, in stream order) counted; ``of(part)`` gives
    the statistics of a part, ``open_window(start_ms=, stats=)`` makes a window value.
    ``opened`` is not changed (it is part of a table value)."""
    result = dict(opened)
    closed: list[ClosedWindow[Any]] = []
    past: list[tuple[str, list[Timed]]] = []
    for name, spec in windows.items():
        for start, part in spec.split(records).items():
            current = result.get(name)
            if current is not None and start < current.start:
                past.append((name, part))
                continue
            stats = of(part)
            if current is not None and start == current.start:
                stats = current.stats + stats
            elif current is not None:
                closed.append(ClosedWindow(name, current.start, current.stats))
            result[name] = open_window(start_ms=int(start.timestamp() * 1000), stats=stats)
    return Moved(result, closed, past)


def open_stats(opened: Mapping[str, Open], spec: WindowSpec, at: datetime) -> Any | None:
    """The statistics of the open window of ``spec`` if it is the one holding ``at``, else
    None (a closed window, in the windowed table, or one without records)."""
    current = opened.get(spec.name)
    if current is None or current.start != spec.bounds(at)[0]:
        return None
    return current.stats
