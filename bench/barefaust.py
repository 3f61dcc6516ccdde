"""The bare faust worker, a ceiling of benchmark 1: three agents that only decode and count.

Run as ``faust -A bench.barefaust worker`` on the same stack, with the broker settings
and the transport cryptoflow's worker uses there (``CRYPTOFLOW_*`` variables, read by
cryptoflow's settings), one agent per symbol topic, raw values ``json.loads``-ed and
counted; nothing stored, no table. ``/counts/`` answers how many records were decoded
and the seconds from the first to the latest, which the benchmark reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

from faust.web import Request, Response, View

from bench.bareapp import bare_app
from cryptoflow.settings import Settings, topic_name

settings = Settings.from_env()
app = bare_app("bench-bare-faust", settings)
counted = {"records": 0, "first": 0.0, "latest": 0.0}


def _counter(topic: str) -> Callable[[Any], Coroutine[Any, Any, None]]:
    async def count(stream: Any) -> None:
        async for value in stream:
            json.loads(value)
            counted["latest"] = time.monotonic()
            counted["first"] = counted["first"] or counted["latest"]
            counted["records"] += 1

    count.__name__ = f"count_{topic}"
    return count


for symbol in settings.tick_symbols:
    name = topic_name(symbol)
    app.agent(app.topic(name, key_serializer="raw", value_serializer="raw"),
              name=f"count-{name}")(_counter(name))


@app.page("/counts/")
class CountsView(View):
    async def get(self, request: Request) -> Response:
        return self.json({"records": counted["records"],
                          "seconds": counted["latest"] - counted["first"]})
