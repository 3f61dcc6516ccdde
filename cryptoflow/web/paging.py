"""Paged answers of the history API, for candles and (later) trades. Pure.

A page answers a range (``start`` inclusive, ``end`` exclusive) in JSON or CSV; its
``next`` URL is the same request with the cursor (the next candle's start, a trade's
id) in place, and the range fixed, so following ``next`` never skips or repeats a row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

from cryptoflow.exceptions import ApiError
from cryptoflow.records import format_ts
from cryptoflow.web.api import MAX_PARAM_CHARS, parse_time

FORMATS = ("json", "csv")
CSV_TYPE = "text/csv"


def parse_format(query: Mapping[str, str], accept: str) -> str:
    """``format=json|csv``; without it, CSV when the client accepts ``text/csv``."""
    name = query.get("format")
    if name is None:
        return "csv" if CSV_TYPE in accept.lower() else "json"
    if name not in FORMATS:
        raise ApiError(400, f"format must be one of {', '.join(FORMATS)}, "
                            f"got {name[:MAX_PARAM_CHARS]!r}", param="format")
    return name


def parse_range(
    query: Mapping[str, str], now: datetime, default_span: timedelta,
) -> tuple[datetime, datetime]:
    """``start`` (default: ``default_span`` before ``end``) and ``end`` (default: now),
    ISO-8601 with a zone; start must come before end."""
    end = parse_time(query, "end", now) or now
    start = parse_time(query, "start", now) or end - default_span
    if start >= end:
        raise ApiError(400, f"start ({format_ts(start)}) must come before end "
                            f"({format_ts(end)})", param="start")
    return start, end


def next_query(params: Mapping[str, str | int | datetime | None]) -> dict[str, str]:
    """The query string of the next page: ``params`` with times in ISO-8601, Nones left out."""
    return {name: format_ts(value) if isinstance(value, datetime) else str(value)
            for name, value in params.items() if value is not None}


def link_header(url: str) -> dict[str, str]:
    """RFC 8288's way to name the next page of a CSV answer (it has no body field for it)."""
    return {"Link": f'<{url}>; rel="next"'}


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A header line and one line per row; an absent value is an empty cell."""
    out = io.StringIO()
    write_csv(out, columns, rows, header=True)
    return out.getvalue()


def write_csv(
    out: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
    *, header: bool,
) -> None:
    """Rows as CSV lines on ``out`` (the header first if asked): numbers as JSON writes
    them, booleans as ``true``/``false``, so a CSV cell reads back as the JSON value."""
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(columns)
    writer.writerows([_cell(row.get(name)) for name in columns] for row in rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
