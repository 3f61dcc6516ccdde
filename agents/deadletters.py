"""Store every dead letter in MongoDB's ``deadletters`` collection, once.

The document keeps the refused value exactly (text when it is UTF-8, bytes
otherwise), the reason, and the origin as ``_id``, so a redelivered dead letter
is a duplicate, not a second document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptoflow import metrics
from cryptoflow.agents.batches import written_batches
from cryptoflow.app import app
from cryptoflow.topics import ORIGIN_HEADER, REASON_HEADER, deadletter_topic

COLLECTION = "deadletters"


def dead_letter_document(
    value: bytes | None, key: bytes | None, headers: dict[str, bytes], received: datetime,
) -> dict[str, Any]:
    origin = headers.get(ORIGIN_HEADER, b"unknown").decode(errors="backslashreplace")
    return {
        "_id": origin,
        "reason": headers.get(REASON_HEADER, b"no reason given").decode(errors="backslashreplace"),
        "key": _readable(key),
        "value": _readable(value),
        "received_at": received,
    }


def _readable(raw: bytes | None) -> str | bytes | None:
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


@app.agent(deadletter_topic)
async def store_dead_letters(stream: Any) -> None:
    async for events in written_batches(
        stream, app.settings.batch_size, app.settings.batch_linger,
    ):
        now = datetime.now(UTC)
        documents = [
            dead_letter_document(
                event.value, event.key, dict(event.headers or {}), now,
            )
            for event in events
        ]
        outcome = await app.store.insert(COLLECTION, documents)
        for document in outcome.inserted:
            metrics.DEAD_LETTERS.labels(metrics.reason_label(document["reason"])).inc()
        if outcome.rejected:
            raise RuntimeError(f"database refused dead letters: {outcome.rejected[0][1]}")
