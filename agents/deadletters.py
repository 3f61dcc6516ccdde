"""Store every dead letter in MongoDB's ``deadletters`` collection, once.

The document keeps the refused value exactly (text when it is UTF-8, bytes
otherwise), the reason and the origin the letter names. Its ``_id`` is computed
here from all of that (``letter_id``), not taken from a header: anyone can write
to the dead-letter topic, and a letter whose ``cryptoflow-origin`` named where a
real poison record lands next made the real letter a "duplicate" (its value and
reason were lost). Now only a letter that holds exactly the same is one: a
redelivered letter, or one resent after a restart, makes no second document.
"""

from __future__ import annotations

import hashlib
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
    position: str,
) -> dict[str, Any]:
    """``position`` (where the worker read the letter) is the origin of a letter sent
    without one (or with an empty or null one), so two such letters are two documents."""
    origin = headers.get(ORIGIN_HEADER) or position.encode()
    reason = headers.get(REASON_HEADER)
    return {
        "_id": letter_id(origin, reason, key, value),
        "origin": origin.decode(errors="backslashreplace"),
        "reason": (reason or b"no reason given").decode(errors="backslashreplace"),
        "key": _readable(key),
        "value": _readable(value),
        "received_at": received,
    }


def letter_id(*parts: bytes | None) -> str:
    """SHA-256 of ``parts``, each length-prefixed (``None`` apart from empty), so no two
    different letters share an identity and every copy of one letter has the same."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(b"-" if part is None else b"+%d:%b" % (len(part), part))
    return digest.hexdigest()


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
                log.error("dead letter %s from %.200s stored without its value: %s",
                          document["_id"], document["origin"], why)
                document.update(value=None, value_error=why)
            again = await app.store.insert(COLLECTION, [doc for doc, _ in outcome.rejected])
            outcome.inserted += again.inserted
        for document in outcome.inserted:
            metrics.DEAD_LETTERS.labels(metrics.reason_label(document["reason"])).inc()
