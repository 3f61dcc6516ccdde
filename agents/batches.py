"""Batches whose offsets move on only after the loop body has finished with them.

faust's ``stream.take`` acknowledges a batch when the loop body returns *or* gives
up (faust-streaming #412), so a crash or a stop mid-write would commit offsets past
unwritten data. ``written_batches`` uses ``noack_take`` and acknowledges a batch
only after the body returned normally for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from faust.types import EventT, StreamT


async def written_batches(
    stream: StreamT[bytes], size: int, within: float,
) -> AsyncIterator[Sequence[EventT[bytes]]]:
    async for events in stream.noack_take(size, within=within):
        yield events  # type: ignore[misc]
        for event in events:  # only reached when the body did not raise
            await stream.ack(event)  # type: ignore[arg-type]
