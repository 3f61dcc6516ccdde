"""Paged answers of the history API, for candles and trades. Pure.

A page answers a range (``start`` inclusive, ``end`` exclusive) in JSON or CSV; its
``next`` URL is the same request with the cursor (the next candle's start, a trade's
id) in place, and the range fixed, so following ``next`` never skips or repeats a row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import IO, Any

from cryptoflow.exceptions import ApiError
from cryptoflow.records import format_ts
from cryptoflow.web.api import MAX_PARAM_CHARS, parse_time

FORMATS = ("json", "csv")
CSV_TYPE = "text/csv"


def parse_format(query: Mapping[str, str], accept: str) -> str:
    """``format=json|csv``; without it, CSV when the ``Accept`` header prefers it
    (``prefers_csv``)."""
    name = query.get("format")
    if name is None:
        return "csv" if prefers_csv(accept) else "json"
    if name not in FORMATS:
        raise ApiError(400, f"format must be one of {', '.join(FORMATS)}, "
                            f"got {name[:MAX_PARAM_CHARS]!r}", param="format")
    return name


# RFC 9110's grammar of an Accept element: a media range with parameters (a token or
# a quoted string each: _NAME is its "token"); its weight is the parameter named q.
_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ELEMENT = re.compile(rf"({_NAME})/({_NAME})((?:[ \t]*;[ \t]*{_NAME}=(?:{_NAME}|{_QUOTED}))*)")
_PARAMETER = re.compile(rf";[ \t]*({_NAME})=({_NAME}|{_QUOTED})")
_PIECE = re.compile(rf'(?:[^,"]|{_QUOTED})+')  # an element: up to a comma not in quotes
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def prefers_csv(accept: str) -> bool:
    """Whether an ``Accept`` header (RFC 9110, section 12.5.1) weighs ``text/csv`` above
    ``application/json``. Each gets the q (default 1) of the most specific range that
    names it (``text/csv`` over ``text/*`` over ``*/*``; the highest q among equally
    specific ones), 0 when none does; media-range parameters other than q do not
    matter. JSON wins a tie, so no header, ``*/*``, or a header naming neither (no 406:
    JSON is what the API answers by default) is JSON. An element that is not well
    formed (a q that is not RFC 9110's qvalue, a quote left open) is ignored, never an
    error."""
    ranges = [parsed for piece in _PIECE.findall(accept)
              if (parsed := _media_range(piece.strip())) is not None]
    return _weight(ranges, "text", "csv") > _weight(ranges, "application", "json")


def _media_range(element: str) -> tuple[str, str, float] | None:
    """(type, subtype, q) of one Accept element, lowercase; None if malformed."""
    match = _ELEMENT.fullmatch(element)
    if match is None:
        return None
    kind, subtype = match[1].lower(), match[2].lower()
    if kind == "*" and subtype != "*":
        return None
    weights = [value for name, value in _PARAMETER.findall(match[3]) if name.lower() == "q"]
    if not weights:
        return kind, subtype, 1.0
    if len(weights) > 1 or not _QVALUE.fullmatch(weights[0]):
        return None
    return kind, subtype, float(weights[0])


def _weight(ranges: Sequence[tuple[str, str, float]], kind: str, subtype: str) -> float:
    """The q the most specific of ``ranges`` matching ``kind/subtype`` gives it (0: none)."""
    levels = {(kind, subtype): 2, (kind, "*"): 1, ("*", "*"): 0}
    best = (-1, 0.0)  # (how specific, q)
    for range_kind, range_subtype, q in ranges:
        level = levels.get((range_kind, range_subtype))
        if level is not None:
            best = max(best, (level, q))
    return best[1]


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
    out: IO[str], columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
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
