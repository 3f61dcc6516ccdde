"""Batches whose offsets move on only after the loop body has finished with them.

faust's ``stream.take`` acknowledges a batch when the loop body returns *or* gives
up (faust-streaming #412), so a crash or a stop mid-write would commit offsets past
unwritten data. ``written_batches`` uses ``noack_take`` and acknowledges a batch
only after the body returned normally for it.

``noack_take`` alone is not enough: when its generator ends (the agent stops) it sets
the stream's ``enable_acks`` back to what it was, True, while the stream's passive
drainer still runs; that drainer then acknowledges every event it takes from the
queue without anyone handling it, and the consumer commits those offsets as it stops.
Seen after a SIGTERM under load: ~110 consecutive ticks per symbol never stored.
``manual_batches`` turns the stream's own acks off for good, so only ``acknowledge``
ever moves an offset on.

Agents that update tables from a batch write once per symbol (and window), not
once per tick: the batch is grouped by symbol, and ``acting_for`` makes those writes
go to the changelog partition of the symbol's own events.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast

from faust.streams import Stream, _current_event
from faust.types import EventT, StreamT

from cryptoflow.broker.topics import DeadLetter, message_origin, send_dead_letters
from cryptoflow.exceptions import InvalidRecord
from cryptoflow.tables.open_windows import ClosedWindow
from cryptoflow.tables.windows import Timed


class _OfSymbol(Protocol):
    @property
    def symbol(self) -> str: ...  # read-only: records are frozen


Keyed = TypeVar("Keyed", bound=_OfSymbol)


def manual_batches(
    stream: StreamT[Any], size: int, within: float,
) -> AsyncIterator[Sequence[EventT[Any]]]:
    """``stream.noack_take``, with the stream's acks off before and after it: the
    caller acknowledges each event itself (``acknowledge``), or it is read again."""
    stream.enable_acks = False
    # an agent's stream is a faust Stream; StreamT does not declare noack_take
    return cast("Stream[Any]", stream).noack_take(size, within=within)


async def written_batches(
    stream: StreamT[Any], size: int, within: float,
) -> AsyncIterator[Sequence[EventT[Any]]]:
    async for events in manual_batches(stream, size, within):
        yield events
        await acknowledge(stream, events)  # only reached when the body did not raise


async def acknowledge(stream: StreamT[Any], events: Sequence[EventT[Any]]) -> None:
    """Let the offsets of ``events`` be committed."""
    for event in events:
        await stream.ack(event)


@contextmanager
def acting_for(event: EventT[Any]) -> Iterator[None]:
    """Table writes in this block are made as if the stream were at ``event``.

    faust sends a table write to the changelog partition of the stream's current
    event, which after a ``take`` is the batch's last one, whatever its partition.
    This sets faust's own current-event variable (as its stream does on every
    event), so the writes for a symbol go to that symbol's partition, where table
    recovery and ``table_route`` look for them."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


async def checked_by_symbol(
    events: Sequence[EventT[bytes]], parse: Callable[[bytes | None], Keyed],
    partition_of: Callable[[str], int],
) -> dict[str, list[tuple[EventT[bytes], Keyed]]]:
    """The records of a batch of raw messages (market data, stored ticks), per symbol in
    stream order.

    A value ``parse`` refuses, or one on another partition than its symbol's (a producer
    that did not key it by the symbol as JSON: the symbol's tables are elsewhere), goes
    to the dead letters with its reason, identified by where it was read: the batch's
    letters together, in order, before this returns."""
    groups: dict[str, list[tuple[EventT[bytes], Keyed]]] = defaultdict(list)
    refused: list[DeadLetter] = []
    for event in events:
        message = event.message
        try:
            record = parse(event.value)
            expected = partition_of(record.symbol)
            if message.partition != expected:
                raise InvalidRecord(
                    f"wrong partition: {record.symbol} belongs on {expected}, "
                    f"not {message.partition} (key it by the symbol as JSON)")
        except InvalidRecord as err:
            refused.append(DeadLetter(
                event.value, err.reason,
                message_origin(message.topic, message.partition, message.offset), message.key))
        else:
            groups[record.symbol].append((event, record))
    await send_dead_letters(refused)
    return dict(groups)


Stats = TypeVar("Stats")


def write_windows(
    windows: Mapping[str, Any], symbol: str, closed: Sequence[ClosedWindow[Any]],
    past: Sequence[tuple[str, Sequence[Timed]]],
    uncounted: Callable[[Sequence[Timed], Stats], Stats | None],
) -> None:
    """What a batch moved out of a symbol's open windows (tables/open_windows.py), into
    the windowed tables: each window it ``closed``, *set* (written again after a stop,
    it is the same value), and its records of earlier windows (``past``), added:
    ``uncounted(part, current)`` says what a part adds to its window's value (None:
    nothing, all of it was counted before)."""
    for window in closed:
        windows[window.name].relative_to(window.start)[symbol] = window.stats
    for name, part in past:
        window = windows[name].relative_to(part[0].ts)[symbol]
        fresh = uncounted(part, window.value())
        if fresh is not None:
            window += fresh
