"""The coverage ledger read back: a symbol's hours with what was stored, by path, what is
missing and why, when no stream was connected, and what ``verify`` found.

One page is at most ``limit`` hours of [start, end), oldest first; each hour is a
``HourSummary`` (tables/coverage.py) of its ledger document, with the holes among its
ids explained by the unfilled gaps the streams recorded (``gaps``) and the times no
stream of the symbol was connected (``outages``). An hour without a document is listed
with nothing stored: the ledger says so rather than leave it out. Every read is bounded:
the ledger documents of the page's hours (one index range on symbol and hour) and the
gaps and outages of the symbol that touch them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptoflow.records import format_ts
from cryptoflow.sinks.mongo import COVERAGE, GAPS, OUTAGES, TickStore
from cryptoflow.tables.coverage import HourSummary, summarise
from cryptoflow.tables.series import floor_to

HOUR = timedelta(hours=1)
UNEXPLAINED = "no trade stored and no gap recorded (was the recorder running?)"
COLUMNS = ("hour", "first_ts", "first_id", "last_id", "stored", "streamed", "filled", "imported",
           "backfilled", "invalid", "missing", "gaps", "disconnected_s", "verified")


@dataclass
class CoveragePage:
    """The hours of one page as rows, and where the next page starts (None: the last)."""

    rows: list[dict[str, Any]]
    next: datetime | None


async def coverage_page(
    store: TickStore, symbol: str, start: datetime, end: datetime, limit: int,
) -> CoveragePage:
    """The ledger's hours of ``symbol`` from the hour of ``start`` to ``end``, at most
    ``limit`` of them."""
    first = floor_to(start, HOUR)
    stop = min(end, first + limit * HOUR)
    documents = {doc["hour"]: doc for doc in await store.ledger_hours(
        COVERAGE, symbol, first - HOUR, stop)}
    hours = [first + n * HOUR for n in range(math.ceil((stop - first) / HOUR))]
    before = documents.get(first - HOUR)  # for the hole between it and the page's first
    summaries = summarise([(first - HOUR, before or {})] + [
        (hour, documents.get(hour, {})) for hour in hours])[1:]
    gaps = await store.overlapping_gaps(GAPS, symbol, _ids(summaries))
    outages = await store.outages_between(OUTAGES, symbol, first, stop)
    rows = [hour_row(summary, gaps, outages) for summary in summaries]
    return CoveragePage(rows, stop if stop < end else None)


def _ids(summaries: list[HourSummary]) -> tuple[int, int] | None:
    ids = [i for s in summaries for hole in s.holes for i in hole]
    return (min(ids), max(ids)) if ids else None


def hour_row(
    summary: HourSummary, gaps: list[dict[str, Any]], outages: list[dict[str, Any]],
) -> dict[str, Any]:
    """One hour as the API, the command and the dashboard show it."""
    hour_end = summary.hour + HOUR
    holes = [{"first_id": first, "last_id": last, "size": last - first + 1,
              "reason": _reason(first, last, gaps)} for first, last in summary.holes]
    disconnected: list[dict[str, Any]] = []
    seconds = 0.0
    for outage in outages:
        since = max(outage["start"], summary.hour)
        until = min(outage["end"], hour_end) if outage.get("end") else hour_end
        if since < until:
            disconnected.append({"from": format_ts(since), "to": format_ts(until),
                                 "ended": outage.get("end") is not None})
            seconds += (until - since).total_seconds()
    verified = summary.verified
    return {
        "hour": format_ts(summary.hour), "first_id": summary.first_id,
        "first_ts": format_ts(datetime.fromtimestamp(summary.first_ms / 1000, tz=UTC))
        if summary.first_ms is not None else None,
        "last_id": summary.last_id, "stored": summary.stored, "streamed": summary.streamed,
        "filled": summary.filled, "imported": summary.imported,
        "backfilled": summary.backfilled, "invalid": summary.invalid,
        "missing": summary.missing, "gaps": len(holes), "holes": holes,
        "disconnected_s": round(seconds, 3), "disconnected": disconnected,
        "verified": verified.get("result") if verified else None,
        "verification": verified,
    }


def _reason(first: int, last: int, gaps: list[dict[str, Any]]) -> str:
    reasons = [gap["reason"] for gap in gaps
               if gap["first_id"] <= last and gap["last_id"] >= first]
    return "; ".join(dict.fromkeys(reasons)) or UNEXPLAINED
