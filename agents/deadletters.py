"""Store every dead letter in MongoDB's ``deadletters`` collection, once.

The document keeps the refused value exactly (text when it is UTF-8, bytes
otherwise), the reason, and the origin as ``_id``, so a redelivered dead letter
is a duplicate, not a second document.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from cryptoflow import metrics
from cryptoflow.agents.batches import written_batches
from cryptoflow.app import app
from cryptoflow.broker.topics import ORIGIN_HEADER, REASON_HEADER, deadletter_topic, message_origin

log = logging.getLogger(__name__)

COLLECTION = "deadletters"


def dead_letter_document(
    value: bytes | None, key: bytes | None, headers: dict[str, bytes], received: datetime,
    fallback_origin: str,
) -> dict[str, Any]:
    """``fallback_origin`` (where this message sits) names letters sent without headers."""
    origin = headers.get(ORIGIN_HEADER, fallback_origin.encode()).decode(
        errors="backslashreplace")
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
                message_origin(event.message.topic, event.message.partition,
                               event.message.offset),
            )
            for event in events
        ]
        outcome = await app.store.insert(COLLECTION, documents)
        if outcome.rejected:
            # The database refused a document as such (too large, say): keep the
            # letter and its reason, without the value it cannot hold.
            for document, why in outcome.rejected:
                log.error("dead letter %s stored without its value: %s", document["_id"], why)
                document.update(value=None, value_error=why)
            again = await app.store.insert(COLLECTION, [doc for doc, _ in outcome.rejected])
            outcome.inserted += again.inserted
        for document in outcome.inserted:
            metrics.DEAD_LETTERS.labels(metrics.reason_label(document["reason"])).inc()
