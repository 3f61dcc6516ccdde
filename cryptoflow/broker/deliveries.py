"""Which offset each partition's next record should have, and what a jump means.

faust takes a jump in the offsets a fetch delivers as a gap of offsets the broker
never had (compaction, transaction markers) and lets commits pass over it. But a
jump is also what a fetch made before a seek delivers after it: seen after a restart
under load, records fetched while the tables recovered arrived after the seek back
to the committed offset, faust counted the offsets before them as a gap, dropped the
re-fetched records as already read, and committed past them (ticks missing from
MongoDB for good). So a jump is trusted only when a fetch from the expected offset
returns it again; the first time, the partition is read again from the expected one.
A record below the expected offset was handed on already, or lies before where reading
started again: a copy from an older fetch, dropped (faust's own read offset can be
moved past records that were never processed, see ``cryptoflow.broker.transport``).

Pure bookkeeping; ``cryptoflow.broker.transport`` does the seeking.
"""

from __future__ import annotations

from collections.abc import Hashable


class DeliveryCheck:
    """Per partition: the offset its next record should have (unknown until the first
    record or seek)."""

    def __init__(self) -> None:
        self._next: dict[Hashable, int] = {}
        self._unconfirmed: dict[Hashable, tuple[int, int]] = {}  # (expected, seen)

    def sought(self, partition: Hashable, offset: int | None) -> None:
        """The partition reads from ``offset`` next (``None``: from an offset not known
        here, taken from the first record handed on)."""
        self._unconfirmed.pop(partition, None)
        if offset is None:
            self._next.pop(partition, None)
        else:
            self._next[partition] = offset

    def handed_on(self, partition: Hashable, offset: int) -> bool:
        """Whether the record at ``offset`` lies below the expected one: handed on
        already, or before where reading started again (a committed offset, the
        partition's first one). Such a record is a copy from an older fetch."""
        expected = self._next.get(partition)
        return expected is not None and offset < expected

    def rewind_to(self, partition: Hashable, offset: int) -> int | None:
        """Where to read again from instead of handing on the record at ``offset``
        (drop it and the rest of its fetch), or None: hand it on. A record below the
        expected offset is one read before (``handed_on``, dropped by the caller); one
        above it is a jump, handed on only when the fetch after the rewind jumps to it
        again."""
        expected = self._next.get(partition)
        if expected is not None and offset > expected \
                and self._unconfirmed.get(partition) != (expected, offset):
            self._unconfirmed[partition] = (expected, offset)
            return expected
        if expected is None or offset >= expected:
            self._next[partition] = offset + 1
            self._unconfirmed.pop(partition, None)
        return None
