"""``coverage SYMBOL --since ... [--until ...]``: the coverage ledger as a table a person
reads at a glance (cryptoflow/ledger.py says what a row holds), then each hole with its
reason."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from faust.cli import argument, option

from cryptoflow.commands import Target, _moment, _symbol, command, render
from cryptoflow.ledger import COLUMNS, coverage_page
from cryptoflow.records import format_ts
from cryptoflow.sinks.mongo import TickStore

PAGE_HOURS = 24 * 7


@command(
    argument("symbol", callback=_symbol),
    option("--since", required=True, callback=_moment, help="first hour, e.g. 2026-12-07"),
    option("--until", callback=_moment, help="end (exclusive); default: now"),
    option("--json", "as_json", is_flag=True, help="print JSON (every field of every hour)"),
)
async def coverage(
    target: Target, store: TickStore, symbol: str, since: datetime, until: datetime | None,
    as_json: bool,
) -> None:
    """Which aggregate trade ids of SYMBOL are stored, hour by hour: streamed, filled
    from REST, imported, backfilled, invalid at the exchange, missing (and why), time
    without a stream, and what verify found."""
    end = until or datetime.now(UTC)
    if end <= since:
        raise SystemExit("--until must come after --since")
    rows: list[dict[str, Any]] = []
    start: datetime | None = since
    while start is not None:
        page = await coverage_page(store, symbol, start, end, PAGE_HOURS)
        rows += page.rows
        start = page.next
    if as_json:
        print(render(rows, as_json=True))
    else:
        print(render([{column: row[column] for column in COLUMNS} for row in rows], False))
        for row in rows:
            for hole in row["holes"]:
                print(f"{row['hour']}: ids {hole['first_id']}..{hole['last_id']} "
                      f"({hole['size']}) missing: {hole['reason']}")
    stored = sum(int(row["stored"]) for row in rows)
    missing = sum(int(row["missing"]) for row in rows)
    verdict = ("every trade id stored" if stored and not missing else
               f"{missing} id(s) missing in {sum(int(row['gaps']) for row in rows)} gap(s)"
               if stored else "no trade stored")
    print(f"{symbol}: {verdict} from {format_ts(since)} to {format_ts(end)} "
          f"({stored} stored); {target.closing(bool(stored))}", file=sys.stderr)
