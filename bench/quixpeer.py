"""The peer of benchmark 1: Quix Streams doing cryptoflow's work on the same records.

``python -m bench.quixpeer BOOTSTRAP MONGO_PORT STATE_DIR`` runs until it is stopped:
per symbol topic, every tick is stored by Quix's MongoDB sink (an upsert matched on
(symbol, ts), into database ``quix``, one collection per topic as cryptoflow's) and
counted into 1-minute and 5-minute tumbling windows by event time (count, mean, min,
max), with Quix's default settings otherwise. Two things Quix needs that this stack
does not give by itself: the source topics carry ``retention.ms`` (Quix derives its
window changelogs' config from the source topic's as the broker reports it, and Tansu
reports none for a topic created without one: ``KeyError: 'retention.ms'``; the
benchmark creates them with Kafka's default, ``harness.RETENTION_MS``), and the
collections have a unique (symbol, ts) index (the benchmark makes it; without one,
each upsert matched by field is a scan).
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Any

from quixstreams import Application
from quixstreams.dataframe.windows import Count, Max, Mean, Min
from quixstreams.sinks.base.item import SinkItem
from quixstreams.sinks.community.mongodb import MongoDBSink

from cryptoflow.settings import topic_name

DATABASE = "quix"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
WINDOW_MINUTES = (1, 5)


def _event_time(value: Any, _headers: Any, _timestamp: int, _kind: Any) -> int:
    return int(datetime.fromisoformat(value["ts"]).timestamp() * 1000)


def _document(value: dict[str, Any]) -> dict[str, Any]:
    """The document cryptoflow stores for a tick: its ts as a BSON date."""
    return {"symbol": value["symbol"], "price": value["price"],
            "ts": datetime.fromisoformat(value["ts"])}


def _natural_key(item: SinkItem) -> dict[str, Any]:
    return {"symbol": item.value["symbol"], "ts": item.value["ts"]}


def build(bootstrap: str, mongo_port: int, state_dir: str) -> Application:
    app = Application(
        broker_address=bootstrap, consumer_group="quix-peer", auto_offset_reset="earliest",
        state_dir=state_dir, loglevel="WARNING",
    )
    for symbol in SYMBOLS:
        name = topic_name(symbol)
        topic = app.topic(name, key_deserializer="str", value_deserializer="json",
                          timestamp_extractor=_event_time)
        ticks = app.dataframe(topic).apply(_document)
        ticks.sink(MongoDBSink(host="127.0.0.1", port=mongo_port, db=DATABASE,
                               collection=name, document_matcher=_natural_key))
        for minutes in WINDOW_MINUTES:
            ticks.tumbling_window(timedelta(minutes=minutes), name=f"{name}-{minutes}m").agg(
                count=Count(), mean=Mean("price"), min=Min("price"), max=Max("price"),
            ).current()
    return app


if __name__ == "__main__":
    build(sys.argv[1], int(sys.argv[2]), sys.argv[3]).run()
