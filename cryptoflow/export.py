"""Recorded history written to a file a page at a time: CSV, JSON lines or Parquet.

``faust -A cryptoflow export candles|trades BTCUSDT --since ...`` (``cryptoflow.commands``)
reads pages with ``cryptoflow.readback`` and hands each to a writer, so the whole range
is never in memory. The rows are the API's: a file holds the same values as
``/api/candles/`` or ``/api/trades/``. A Parquet file (pyarrow, an optional extra) also
has a ``symbol`` column, so files of several symbols can be read as one table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from cryptoflow.exceptions import MissingExtra
from cryptoflow.readback import candle_pages, trade_pages
from cryptoflow.sinks.mongo import TickStore
from cryptoflow.tables.series import CANDLE_COLUMNS, Interval, ceil_to, public_candle
from cryptoflow.web.market_api import TRADE_COLUMNS, trade_body
from cryptoflow.web.paging import write_csv

FORMATS = ("csv", "jsonl", "parquet")
BINARY = {"parquet"}
PAGE = 1000  # candles or trades a read, the API's most
PARQUET_MISSING = "--format parquet needs pyarrow: pip install 'cryptoflow[parquet]'"


class RowWriter(Protocol):
    def write(self, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...


class CsvWriter:
    """A header line, then one line per row (an unknown value is an empty cell)."""

    def __init__(self, out: IO[str], columns: Sequence[str]) -> None:
        self._out, self._columns = out, columns
        write_csv(out, columns, [], header=True)

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        write_csv(self._out, self._columns, rows, header=False)

    def close(self) -> None:
        self._out.flush()


class JsonLinesWriter:
    """One JSON object per line, as the API's JSON has it."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._out.writelines(json.dumps(row) + "\n" for row in rows)

    def close(self) -> None:
        self._out.flush()


def parquet_module() -> Any:
    """pyarrow (with its parquet module), or ``MissingExtra`` saying how to install it."""
    try:  # optional: imported only when Parquet is asked for
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingExtra(PARQUET_MISSING) from None
    return pyarrow


@dataclass(frozen=True)
class Layout:
    """The columns of one kind of row: their order (CSV) and their types (Parquet)."""

    columns: tuple[str, ...]
    types: Mapping[str, str]  # name -> time | float | int | str | bool


CANDLES = Layout(tuple(CANDLE_COLUMNS), {
    "start": "time", **dict.fromkeys(("open", "high", "low", "close", "volume", "quote_volume",
                                      "taker_buy_volume", "taker_buy_quote_volume"), "float"),
    "trades": "int", "count": "int", "source": "str", "closed": "bool"})
TRADES = Layout(TRADE_COLUMNS, {
    "trade_id": "int", "price": "float", "qty": "float", "first_trade_id": "int",
    "last_trade_id": "int", "ts": "time", "is_buyer_maker": "bool"})


class ParquetWriter:
    """One row group per page: ``symbol``, then the layout's columns; times as UTC
    timestamps, unknown values as nulls."""

    def __init__(self, out: IO[bytes], layout: Layout, symbol: str) -> None:
        pa = parquet_module()
        kinds = {"time": pa.timestamp("ms", tz="UTC"), "float": pa.float64(),
                 "int": pa.int64(), "str": pa.string(), "bool": pa.bool_()}
        self._pa, self._symbol, self._columns = pa, symbol, layout.columns
        self._times = [name for name in layout.columns if layout.types[name] == "time"]
        self._schema = pa.schema([("symbol", pa.string()), *(
            (name, kinds[layout.types[name]]) for name in layout.columns)])
        self._writer = pa.parquet.ParquetWriter(out, self._schema)

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns: dict[str, list[Any]] = {"symbol": [self._symbol] * len(rows),
                   **{name: [row.get(name) for row in rows] for name in self._columns}}
        for name in self._times:
            columns[name] = [datetime.fromisoformat(value) for value in columns[name]]
        self._writer.write_table(self._pa.table(columns, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def open_writer(fmt: str, out: IO[Any], layout: Layout, symbol: str) -> RowWriter:
    """The writer of ``fmt`` on ``out`` (text for csv/jsonl, binary for parquet) for the
    rows of ``symbol``."""
    if fmt == "csv":
        return CsvWriter(out, layout.columns)
    if fmt == "jsonl":
        return JsonLinesWriter(out)
    return ParquetWriter(out, layout, symbol)


def slots(interval: Interval, start: datetime, end: datetime) -> int:
    """How many candles of ``interval`` fit in [start, end): the progress bar's length."""
    return max(0, (ceil_to(end, interval.size) - ceil_to(start, interval.size)) // interval.size)


async def export_candles(
    store: TickStore, symbol: str, interval: Interval, start: datetime, end: datetime,
    writer: RowWriter, progress: Callable[[int], None],
) -> int:
    """Write every candle of [start, end) a page at a time; returns how many. ``progress``
    gets the number of slots each page covered."""
    written, cursor = 0, start
    async for page, now in candle_pages(store, symbol, interval, start, end, PAGE,
                                        lambda: datetime.now(UTC)):
        writer.write([public_candle(doc, now) for doc in page.candles])
        written += len(page.candles)
        reached = page.next or end
        progress(slots(interval, cursor, reached))
        cursor = reached
    return written


async def export_trades(
    store: TickStore, symbol: str, start: datetime, end: datetime, writer: RowWriter,
    progress: Callable[[int], None],
) -> int:
    """Write every stored trade of [start, end) a page at a time; returns how many.
    ``progress`` gets the seconds of the range each page covered."""
    written, reached = 0, start
    async for trades in trade_pages(store, symbol, start, end, PAGE):
        writer.write([trade_body(doc) for doc in trades])
        written += len(trades)
        newest = trades[-1]["ts"] if trades else end
        progress(int((newest - reached).total_seconds()))
        reached = newest
    progress(int((end - reached).total_seconds()))
    return written
