"""``import FILE...``: Binance's archive files (data.binance.vision) into the database,
with no network: what a day or month of aggregate trades or 1-minute klines holds
becomes what recording it live would have written.

Each file is checked before anything is written: its name must be Binance's (it says
the symbol, the kind and the day or month), the symbol one of ``CRYPTOFLOW_SYMBOLS``,
and the zip the one its ``.CHECKSUM`` file names, where one lies beside it (a file
without one is read with a warning). A file that fails a check is refused whole.

An aggTrades file goes through ``records.trade_from_fields``, the one validator of
aggregate trades, into ``HistoryWriter`` (the ``trades`` documents, the 1-minute trade
candles, the ledger's ``imported`` part, its hours ``complete`` within the file's day or
month). A 1-minute klines file becomes the candles backfill writes from the klines
endpoint (``backfill.kline_candle``), for the minutes that have no candle yet: a trade
candle, the live path's or an imported one, is never overwritten by a kline, while an
aggTrades import replaces the kline candles of its minutes with trade candles.

A row that cannot be read, or that the validator refuses, stops its file there with
one line naming the row: the trades before it stay written (a rerun of a fixed file
writes none twice), the minute it stopped in is written as far as it got (the rerun
rewrites it whole), and only the ledger hours before the one it stopped in are marked
complete. Stopping rather than setting the row aside keeps the ledger's claim true: an
hour marked complete holds every trade of the file's hour.

Importing a file again changes nothing: trades are keyed by symbol and id, trade candles
are rebuilt from the same trades, kline candles are written only where no candle is,
and the ledger adds ids it already holds.
"""

from __future__ import annotations

import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
from faust.cli import argument, option

from cryptoflow.app import app
from cryptoflow.commands import Target, command
from cryptoflow.exceptions import ArchiveError, BinanceError, InvalidRecord
from cryptoflow.records import Trade, trade_from_fields
from cryptoflow.sinks.history import HistoryWriter
from cryptoflow.sinks.mongo import TRADES, TickStore
from cryptoflow.sources.archives import (
    BATCH_ROWS,
    ArchiveKind,
    ArchiveKline,
    ArchiveName,
    ArchiveTrade,
    agg_trade_row,
    kline_row,
    read_agg_trades,
    read_klines,
    verify_checksum,
)
from cryptoflow.sources.backfill import CANDLES, kline_candle
from cryptoflow.sources.binance import _kline as parse_kline
from cryptoflow.tables.coverage import hour_start_ms
from cryptoflow.tables.series import CANDLES_1M

# Every stored candle has a ``start``: with this filter ``replace_only`` writes a kline
# candle only where the minute has no candle at all (and counts only those).
NO_CANDLE = {"start": {"$exists": False}}
WHAT = {"aggTrades": TRADES, "klines": CANDLES_1M}  # what a kind of file writes


class Refused(Exception):
    """A file that is not imported at all, or whose import stopped; the message is the
    one line that says why, naming the file."""


@dataclass
class Imported:
    """What importing one file did: rows read (and written), documents new and already
    stored, trade candles written, how long it took, and why it was refused or stopped."""

    file: str
    kind: ArchiveKind | None = None
    rows: int = 0
    new: int = 0
    present: int = 0
    candles: int = 0
    seconds: float = 0.0
    error: str | None = None

    def line(self, where: str) -> str:
        """The file's closing line (``where``: ``Target.where()``)."""
        if self.kind is None:
            return f"{self.file}: refused, nothing written: {self.error}"
        line = (f"{self.file}: {self.rows:,} rows read; {WHAT[self.kind]}: {self.new:,} new, "
                f"{self.present:,} already stored; {self.candles:,} candle(s) written in "
                f"{self.seconds:.1f}s ({rate(self.rows, self.seconds)} rows/s) to the {where}")
        if self.error is not None:
            line += "; stopped at the row above (a rerun writes nothing twice)"
        return line


def overall(results: Sequence[Imported], seconds: float, where: str) -> str:
    """The closing line of the whole command."""
    failed = sum(result.error is not None for result in results)
    rows = sum(result.rows for result in results)
    return (f"import: {len(results) - failed} of {len(results)} file(s) imported"
            f"{f', {failed} failed' if failed else ''}; {rows:,} rows read; "
            f"{sum(r.new for r in results):,} new, {sum(r.present for r in results):,} "
            f"already stored; {sum(r.candles for r in results):,} candle(s) written in "
            f"{seconds:.1f}s ({rate(rows, seconds)} rows/s) to the {where}")


def rate(rows: int, seconds: float) -> str:
    return f"{rows / max(seconds, 1e-9):,.0f}"


def covered_ms(name: ArchiveName) -> tuple[int, int]:
    """[start, end) in epoch ms of the UTC day or month a file holds every trade of."""
    first = name.day
    if name.period == "daily":
        end = date.fromordinal(first.toordinal() + 1)
    else:
        end = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return _ms(first), _ms(end)


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def checked(path: Path, symbols: Sequence[str]) -> tuple[ArchiveName, bool]:
    """The file's name, and whether its checksum was verified (False: no CHECKSUM file
    beside it); ``Refused`` for a name that is not Binance's, a symbol not configured, a
    missing file or a checksum that does not match."""
    try:
        name = ArchiveName.parse(path.name)
    except ArchiveError as err:
        raise Refused(str(err)) from None
    if name.symbol not in symbols:
        raise Refused(f"{name.symbol} is not a configured symbol (configured: "
                      f"{', '.join(symbols)}; see CRYPTOFLOW_SYMBOLS)")
    if not path.is_file():
        raise Refused("no such file")
    try:
        verified = verify_checksum(path)
    except ArchiveError as err:
        raise Refused(str(err)) from None
    if verified is False:
        raise Refused(f"its sha256 is not the one {name.checksum_name} gives "
                      f"(a damaged or partial download?)")
    return name, verified is True


def valid_trades(
    rows: Sequence[ArchiveTrade], symbol: str, now: datetime, day: date,
) -> tuple[list[Trade], str | None]:
    """The trades of ``rows`` up to the first one the validator refuses, and the line
    naming that row (None when none is refused)."""
    trades: list[Trade] = []
    for row in rows:
        try:
            trades.append(trade_from_fields(row.fields(), symbol, now))
        except InvalidRecord as err:
            return trades, (f"aggregate trade {row.agg_id} refused ({err}): row "
                            f"{','.join(agg_trade_row(row, day))}")
    return trades, None


def kline_document(symbol: str, kline: ArchiveKline) -> dict[str, Any]:
    """The candle backfill writes for the same kline from the klines endpoint."""
    return kline_candle(symbol, parse_kline(kline.rest()))


def csv_size(path: Path, name: ArchiveName) -> int:
    """The bytes of the zip's CSV (what the progress bar counts; a zip that cannot be
    read has 0 here, and the reader says why)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.getinfo(name.csv_name).file_size
    except (zipfile.BadZipFile, KeyError, OSError):
        return 0


def batch_bytes(first_row: Sequence[str], rows: int) -> int:
    """About the CSV bytes of a batch of ``rows`` rows like ``first_row`` (cells): the
    progress a batch makes, without writing every row again."""
    return (len(",".join(first_row)) + 1) * rows


def rows_shown(rows: int | None) -> str:
    """What the progress bar shows beside the bar: the rows read so far."""
    return f"{rows or 0:,} rows"


Progress = Callable[[int, int], None]  # CSV bytes read meanwhile, rows read so far


async def import_trades(store: TickStore, path: Path, name: ArchiveName, batch: int,
                        result: Imported, progress: Progress) -> None:
    covers = covered_ms(name)
    writer = HistoryWriter(store, name.symbol, part="imported", covers=covers)
    last_ms: int | None = None
    try:
        for rows in read_agg_trades(path, batch):
            trades, refused = valid_trades(rows, name.symbol, datetime.now(UTC), name.day)
            await writer.write(trades)
            result.rows += len(trades)
            last_ms = trades[-1].time_ms if trades else last_ms
            progress(batch_bytes(agg_trade_row(rows[0], name.day), len(trades)), result.rows)
            if refused is not None:
                raise Refused(refused)
    except (ArchiveError, Refused) as err:
        result.error = str(err)
        # Only the hours before the one it stopped in hold every trade of the file.
        writer.covers = None if last_ms is None else (covers[0], hour_start_ms(last_ms))
    written = await writer.finish()
    result.new, result.present, result.candles = written.inserted, written.present, \
        written.candles
    if written.rejected and result.error is None:
        document, reason = written.rejected[0]
        result.error = (f"the database refused {len(written.rejected)} trade(s), the first "
                        f"{document.get('_id')!r}: {reason}")


async def import_klines(store: TickStore, path: Path, name: ArchiveName, batch: int,
                        result: Imported, progress: Progress) -> None:
    try:
        for rows in read_klines(path, batch):
            documents = [kline_document(name.symbol, row) for row in rows]
            new = await store.replace_only(CANDLES, documents, NO_CANDLE)
            result.rows += len(rows)
            result.new += new
            result.candles += new
            result.present += len(rows) - new
            progress(batch_bytes(kline_row(rows[0], name.day), len(rows)), result.rows)
    except (ArchiveError, BinanceError) as err:
        result.error = str(err)


async def import_file(store: TickStore, path: Path, batch: int) -> Imported:
    """Check and import one file; what it did, its error lines printed on stderr."""
    result = Imported(path.name)
    started = time.monotonic()
    try:
        name, verified = checked(path, app.settings.symbols)
    except Refused as err:
        result.error = str(err)
        return result
    if not verified:
        print(f"no CHECKSUM beside {path}: not verified", file=sys.stderr)
    result.kind = name.kind
    size = csv_size(path, name)
    with click.progressbar(length=max(size, 1), label=path.name, show_eta=True,
                           item_show_func=rows_shown,
                           file=sys.stderr) as bar:
        def progress(read: int, rows: int) -> None:
            bar.update(min(read, max(size - bar.pos, 0)), rows)

        load = import_trades if name.kind == "aggTrades" else import_klines
        await load(store, path, name, batch, result, progress)
        if result.error is None:
            bar.update(size - bar.pos, result.rows)
    if result.error is not None:  # the reader's errors name the file already
        print(result.error if result.error.startswith(path.name)
              else f"{path.name}: {result.error}", file=sys.stderr)
    result.seconds = time.monotonic() - started
    return result


@command(
    argument("files", nargs=-1, required=True,
             type=click.Path(dir_okay=False, path_type=Path)),
    option("--batch", type=click.IntRange(min=1), default=BATCH_ROWS, show_default=True,
           help="rows read and written at a time"),
    name="import",
)
async def import_archives(
    target: Target, store: TickStore, files: tuple[Path, ...], batch: int,
) -> None:
    """Load Binance archive files (data.binance.vision: SYMBOL-aggTrades-DAY.zip,
    SYMBOL-1m-DAY.zip, or a month's) into the database, without the network: trades,
    their 1-minute candles and the coverage ledger, or kline candles for minutes without
    a candle. Exit status 1 if any file was refused or stopped."""
    started = time.monotonic()
    results = []
    for path in files:
        result = await import_file(store, path, batch)
        print(result.line(target.where()), file=sys.stderr)
        results.append(result)
    print(overall(results, time.monotonic() - started, target.where()), file=sys.stderr)
    if any(result.error is not None for result in results):
        raise SystemExit(1)
