"""Request parsing and response shapes of the market-data endpoints. Pure: views call these.

``/api/trades/{symbol}/`` pages by trade id: a page's ``next`` carries ``from_id`` (where
the next page starts; absent while the range's first trade is still being looked for),
the same ``end``, and a ``start`` that only moves forward, never past a trade of the
range still to come; so following ``next`` until it is null yields every stored trade
of the range once, in id order, however many arrive meanwhile. A page may hold fewer
than ``limit`` trades, even none, and still have a ``next`` (cryptoflow/readback.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptoflow.exceptions import ApiError
from cryptoflow.records import format_ts
from cryptoflow.web.api import MAX_PARAM_CHARS

TRADES_DEFAULT_LIMIT = 500
TRADES_MAX_LIMIT = 1000


def parse_trade_id(query: Mapping[str, str], param: str) -> int | None:
    raw = query.get(param)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise ApiError(400, f"{param} must be a trade id (ASCII digits), "
                            f"got {raw[:MAX_PARAM_CHARS]!r}", param=param)
    return int(raw)


TRADE_COLUMNS = ("trade_id", "price", "qty", "first_trade_id", "last_trade_id", "ts",
                 "is_buyer_maker")


def trade_body(document: Mapping[str, Any]) -> dict[str, Any]:
    return {**{name: document[name] for name in TRADE_COLUMNS}, "ts": format_ts(document["ts"])}


def streams_health(
    enabled: bool, connections: Sequence[Mapping[str, Any]], down_after: float,
) -> tuple[bool, str]:
    """Healthy unless a connection of this worker has been down for ``down_after`` s, or
    its task is not running (then its state says nothing)."""
    if not enabled:
        return True, "streams disabled (CRYPTOFLOW_STREAMS=none)"
    down = [c for c in connections
            if not c["running"] or (c["down_for"] or 0) > down_after]
    if down:
        names = ", ".join(f"{c['name']} ({c['last_error'] or c['state']})" for c in down)
        return False, f"down for more than {down_after:g}s: {names}"
    if not connections:
        return True, "no symbols of this worker's partitions to stream"
    return True, f"{len(connections)} connection(s) up"


def gap_body(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"symbol": document["symbol"], "first_id": document["first_id"],
            "last_id": document["last_id"], "size": document["size"],
            "reason": document["reason"], "recorded_at": format_ts(document["recorded_at"])}
