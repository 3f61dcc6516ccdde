"""Binance's public archive files (data.binance.vision): spot aggregate trades and 1-minute
klines, daily or monthly, read in batches and written in the same layout.

A file is a zip named ``BTCUSDT-aggTrades-2026-12-07.zip`` (a day) or
``BTCUSDT-aggTrades-2026-12.zip`` (a month; ``BTCUSDT-1m-...`` for klines) that holds
one header-less CSV of the same name with ``.csv``, in the columns of the REST answer it
was made from (aggTrades: id, price, quantity, first and last trade id, time, buyer is
maker, best match; klines: open time, open, high, low, close, volume, close time, quote
volume, trades, taker buy volume, taker buy quote volume, ignore). Booleans are written
``True``/``False``; amounts are decimal strings, kept as they are written. A header line
is skipped where one is (a first row whose first cell is not a number), as other
Binance archives have one.

Time unit: spot files of days from 2025-01-01 on (``MICROSECOND_FILES_FROM``) give times
in microseconds, older ones in milliseconds, so the unit is the file's (taken from its
name, whose month never spans the switch) and times are turned into milliseconds, the
unit of everything else in cryptoflow. Every time is also checked against its unit:
epoch milliseconds from September 2001 to the year 2286 have 13 digits, so a time in
the other unit is 1000 times off and out of that range, and is refused with its row.

Trades Binance marks invalid are rows of price 0, quantity 0 and first and last trade
id -1; they are read as they are, and ``ArchiveTrade.fields()`` hands them to the one
validator of aggregate trades (``records.trade_from_fields``), which keeps them as
invalid trades. This module checks only that each cell is the kind of value its column
holds.

Beside a zip, ``<zip name>.CHECKSUM`` holds ``<sha256 hex>  <zip name>`` (as
``sha256sum`` writes it): ``verify_checksum`` compares it with the zip's digest,
reading the zip in chunks. A month of aggregate trades is far more rows than memory
should hold, so the readers yield lists of ``batch_size`` rows, decompressing as they
go: no more than one batch is ever in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from cryptoflow.exceptions import ArchiveError

ArchiveKind = Literal["aggTrades", "klines"]
ArchivePeriod = Literal["daily", "monthly"]

MICROSECOND_FILES_FROM = date(2025, 1, 1)
BATCH_ROWS = 10_000
KLINE_INTERVAL = "1m"
# Binance's kline intervals, so that an archive of another one is named as such.
KLINE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
                   "1d", "3d", "1w", "1mo")
# Epoch milliseconds with 13 digits: September 2001 to the year 2286.
MS_RANGE = range(10**12, 10**13)
CHECKSUM_SUFFIX = ".CHECKSUM"
CHECKSUM_BYTES = 1024  # a CHECKSUM file is one line of about 100 bytes
AGG_TRADE_COLUMNS = 8
KLINE_COLUMNS = 12
BOOLEANS = {"True": True, "False": False}

_NAME = re.compile(r"(?P<symbol>[A-Z0-9]{2,30})-(?P<kind>[A-Za-z0-9]{1,20})-"
                   r"(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2}))?\.zip")
# sha256sum's line: the digest, a space, then a space (text mode) or "*" (binary mode)
_CHECKSUM = re.compile(r"(?P<digest>[0-9a-fA-F]{64}) [ *](?P<name>[^\r\n]+)\r?\n?")
_WHOLE = re.compile(r"-?\d{1,19}")
_DECIMAL = re.compile(r"\d{1,30}(?:\.\d{1,30})?")


@dataclass(frozen=True)
class ArchiveName:
    """What an archive's name says: the symbol, the kind of data (``interval`` is "1m"
    for klines, None for aggTrades), daily or monthly, and the first day it covers."""

    symbol: str
    kind: ArchiveKind
    interval: str | None
    period: ArchivePeriod
    day: date

    def __post_init__(self) -> None:
        if self.kind not in ("aggTrades", "klines"):
            raise ArchiveError(f"unknown kind of archive {self.kind!r:.20}; aggTrades and "
                               f"{KLINE_INTERVAL} klines are read")
        if self.kind == "klines" and self.interval != KLINE_INTERVAL:
            raise ArchiveError(f"only {KLINE_INTERVAL} klines archives are read, not "
                               f"{self.interval!r:.20}")
        if self.kind == "aggTrades" and self.interval is not None:
            raise ArchiveError("an aggTrades archive has no interval")
        if self.period == "monthly" and self.day.day != 1:
            raise ArchiveError(f"a monthly archive covers a month from its first day, not "
                               f"from {self.day.isoformat()}")

    @classmethod
    def parse(cls, name: str) -> ArchiveName:
        """The parts of a zip's file name (no directory), or ``ArchiveError``."""
        match = _NAME.fullmatch(name)
        if match is None:
            raise ArchiveError(
                f"{name!r:.80} is not a Binance spot archive name (SYMBOL-aggTrades-"
                f"YYYY-MM-DD.zip, SYMBOL-1m-YYYY-MM-DD.zip, or a month's: YYYY-MM)")
        kind_part = match["kind"]
        if kind_part == "aggTrades":
            kind: ArchiveKind = "aggTrades"
            interval = None
        elif kind_part in KLINE_INTERVALS:
            kind, interval = "klines", kind_part
        else:
            raise ArchiveError(f"{name!r:.80}: unknown kind of archive {kind_part!r}; "
                               f"aggTrades and {KLINE_INTERVAL} klines are read")
        daily = match["day"] is not None
        try:
            day = date(int(match["year"]), int(match["month"]), int(match["day"] or 1))
        except ValueError as err:
            raise ArchiveError(f"{name!r:.80}: not a date ({err})") from None
        try:
            return cls(match["symbol"], kind, interval, "daily" if daily else "monthly", day)
        except ArchiveError as err:
            raise ArchiveError(f"{name!r:.80}: {err}") from None

    @classmethod
    def daily(cls, symbol: str, kind: ArchiveKind, day: date) -> ArchiveName:
        """The name of one day's archive (klines: 1-minute)."""
        return cls(symbol, kind, KLINE_INTERVAL if kind == "klines" else None, "daily", day)

    @property
    def stem(self) -> str:
        """``BTCUSDT-aggTrades-2026-12-07``: the zip's and its CSV's name without suffix."""
        when = self.day.isoformat() if self.period == "daily" else self.day.isoformat()[:7]
        return f"{self.symbol}-{self.interval or self.kind}-{when}"

    @property
    def zip_name(self) -> str:
        return f"{self.stem}.zip"

    @property
    def csv_name(self) -> str:
        return f"{self.stem}.csv"

    @property
    def checksum_name(self) -> str:
        return f"{self.zip_name}{CHECKSUM_SUFFIX}"


def time_unit_divisor(day: date) -> int:
    """What a spot archive's times of ``day`` are divided by to be milliseconds: 1000
    from MICROSECOND_FILES_FROM on (microseconds), 1 before (milliseconds)."""
    return 1000 if day >= MICROSECOND_FILES_FROM else 1


def to_file_time(time_ms: int, day: date) -> int:
    """A time (epoch ms) as an archive of ``day`` writes it."""
    return time_ms * time_unit_divisor(day)


def file_time_ms(value: int, day: date) -> int:
    """The epoch milliseconds of a time an archive of ``day`` holds (sub-millisecond
    digits dropped); ``ValueError`` when it is not in that file's unit."""
    divisor = time_unit_divisor(day)
    time_ms = value // divisor
    if time_ms not in MS_RANGE:
        unit = "microseconds" if divisor == 1000 else "milliseconds"
        raise ValueError(f"{value} is not a time in {unit}, the unit of archives of "
                         f"{day.isoformat()}")
    return time_ms


@dataclass(frozen=True, slots=True)
class ArchiveTrade:
    """One row of an aggTrades archive; amounts as the file writes them, time in ms."""

    agg_id: int
    price: str
    qty: str
    first_id: int
    last_id: int
    time_ms: int
    buyer_maker: bool

    def fields(self) -> dict[str, Any]:
        """Binance's aggTrade fields (``a p q f l T m``), for ``trade_from_fields``."""
        return {"a": self.agg_id, "p": self.price, "q": self.qty, "f": self.first_id,
                "l": self.last_id, "T": self.time_ms, "m": self.buyer_maker}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> ArchiveTrade:
        """The row of an aggTrade as GET /api/v3/aggTrades lists it (what the archive is
        made from)."""
        return cls(fields["a"], fields["p"], fields["q"], fields["f"], fields["l"],
                   fields["T"], fields["m"])


@dataclass(frozen=True, slots=True)
class ArchiveKline:
    """One row of a 1-minute klines archive; amounts as the file writes them, times in ms."""

    open_time_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    close_time_ms: int
    quote_volume: str
    trades: int
    taker_buy_volume: str
    taker_buy_quote_volume: str

    def rest(self) -> list[Any]:
        """The kline as GET /api/v3/klines lists it (the last item, unused, is "0")."""
        return [self.open_time_ms, self.open, self.high, self.low, self.close, self.volume,
                self.close_time_ms, self.quote_volume, self.trades, self.taker_buy_volume,
                self.taker_buy_quote_volume, "0"]

    @classmethod
    def from_rest(cls, row: Sequence[Any]) -> ArchiveKline:
        """The row of a kline as GET /api/v3/klines lists it."""
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                   row[9], row[10])


# --- Writing ---------------------------------------------------------------------------


def agg_trade_row(trade: ArchiveTrade, day: date) -> list[str]:
    """The CSV cells of an aggregate trade in an archive of ``day``: Binance's columns,
    time in that day's unit, best match ``True`` (every spot aggregate trade is one)."""
    return [str(trade.agg_id), trade.price, trade.qty, str(trade.first_id),
            str(trade.last_id), str(to_file_time(trade.time_ms, day)),
            str(trade.buyer_maker), "True"]


def kline_row(kline: ArchiveKline, day: date) -> list[str]:
    """The CSV cells of a kline in an archive of ``day``, times in that day's unit."""
    return [str(to_file_time(kline.open_time_ms, day)), kline.open, kline.high, kline.low,
            kline.close, kline.volume, str(to_file_time(kline.close_time_ms, day)),
            kline.quote_volume, str(kline.trades), kline.taker_buy_volume,
            kline.taker_buy_quote_volume, "0"]


def write_archive(directory: Path, name: ArchiveName, rows: Iterable[Sequence[str]]) -> Path:
    """Write ``rows`` (CSV cells, see ``agg_trade_row``/``kline_row``) as Binance lays out
    an archive: ``<stem>.csv`` without header in ``<stem>.zip``, and the zip's CHECKSUM
    file beside it. Returns the zip's path."""
    path = directory / name.zip_name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open(name.csv_name, "w") as raw, \
            io.TextIOWrapper(raw, encoding="ascii", newline="") as text:
        csv.writer(text, lineterminator="\n").writerows(rows)
    write_checksum(path)
    return path


def write_checksum(path: Path, digest: str | None = None) -> Path:
    """Write ``<path>.CHECKSUM`` as Binance does: ``digest`` (by default the file's own
    sha256) and the file's name."""
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    checksum.write_text(f"{digest or sha256_of(path)}  {path.name}\n", encoding="ascii")
    return checksum


# --- Reading ---------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    """The file's sha256 in hex, read in chunks."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def verify_checksum(path: Path) -> bool | None:
    """Whether the zip's sha256 is the one its CHECKSUM file gives; None when there is no
    CHECKSUM file beside it. A CHECKSUM file that is not ``<sha256>  <this zip's name>``
    is an ``ArchiveError``."""
    checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
    try:
        with checksum.open("rb") as file:
            content = file.read(CHECKSUM_BYTES + 1)
    except FileNotFoundError:
        return None
    try:
        match = _CHECKSUM.fullmatch(content.decode("ascii"))
    except UnicodeDecodeError:
        match = None
    if match is None or len(content) > CHECKSUM_BYTES:
        raise ArchiveError(f"{checksum.name}: not a checksum line (<sha256 hex>  <file name>)")
    if match["name"] != path.name:
        raise ArchiveError(f"{checksum.name}: the checksum of {match['name']!r:.80}, not of "
                           f"{path.name!r}")
    return sha256_of(path) == match["digest"].lower()


class _BadRow(ValueError):
    """A row that is not what its columns hold; the reader adds the file and row."""


Row = TypeVar("Row")


def read_agg_trades(path: Path, batch_size: int = BATCH_ROWS) -> Iterator[list[ArchiveTrade]]:
    """The rows of an aggTrades archive (daily or monthly) in file order, ``batch_size``
    at a time, times in ms; ``ArchiveError`` for a bad name, zip or row."""
    return _read(path, "aggTrades", _agg_trade, batch_size)


def read_klines(path: Path, batch_size: int = BATCH_ROWS) -> Iterator[list[ArchiveKline]]:
    """The rows of a 1-minute klines archive (daily or monthly) in file order,
    ``batch_size`` at a time, times in ms; ``ArchiveError`` for a bad name, zip or row."""
    return _read(path, "klines", _kline, batch_size)


def _read(
    path: Path, kind: ArchiveKind, parse: Callable[[list[str], date], Row], batch_size: int,
) -> Iterator[list[Row]]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    name = ArchiveName.parse(path.name)
    if name.kind != kind:
        raise ArchiveError(f"{path.name}: an archive of {name.kind}, not of {kind}")
    return _batches(path, name, parse, batch_size)


def _batches(
    path: Path, name: ArchiveName, parse: Callable[[list[str], date], Row], batch_size: int,
) -> Iterator[list[Row]]:
    number = 0
    try:
        with zipfile.ZipFile(path) as archive, _member(archive, path, name) as raw:
            rows = csv.reader(io.TextIOWrapper(raw, encoding="ascii", newline=""))
            batch: list[Row] = []
            for number, cells in enumerate(rows, start=1):
                if number == 1 and _is_header(cells):
                    continue
                try:
                    batch.append(parse(cells, name.day))
                except _BadRow as err:
                    raise ArchiveError(f"{path.name} row {number}: {err}") from None
                if len(batch) == batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch
    except (zipfile.BadZipFile, EOFError) as err:
        raise ArchiveError(f"{path.name}: not a readable zip ({err})") from None
    except (csv.Error, UnicodeDecodeError) as err:
        raise ArchiveError(f"{path.name} row {number + 1}: not CSV text ({err})") from None


def _member(archive: zipfile.ZipFile, path: Path, name: ArchiveName) -> IO[bytes]:
    try:
        return archive.open(name.csv_name)
    except KeyError:
        held = ", ".join(archive.namelist()[:3]) or "nothing"
        raise ArchiveError(f"{path.name}: holds no {name.csv_name} (it holds {held:.200})") \
            from None


def _is_header(cells: list[str]) -> bool:
    """A first row whose first cell is not a number names the columns."""
    return bool(cells) and _WHOLE.fullmatch(cells[0]) is None


def _columns(cells: list[str], count: int) -> None:
    if len(cells) != count:
        raise _BadRow(f"{len(cells)} columns, expected {count}")


def _whole(cells: list[str], index: int, column: str) -> int:
    if _WHOLE.fullmatch(cells[index]) is None:
        raise _BadRow(f"{column} is not a whole number: {cells[index]!r:.40}")
    return int(cells[index])


def _decimal(cells: list[str], index: int, column: str) -> str:
    if _DECIMAL.fullmatch(cells[index]) is None:
        raise _BadRow(f"{column} is not a decimal number: {cells[index]!r:.40}")
    return cells[index]


def _boolean(cells: list[str], index: int, column: str) -> bool:
    value = BOOLEANS.get(cells[index])
    if value is None:
        raise _BadRow(f"{column} is not True or False: {cells[index]!r:.40}")
    return value


def _time(cells: list[str], index: int, column: str, day: date) -> int:
    value = _whole(cells, index, column)
    try:
        return file_time_ms(value, day)
    except ValueError as err:
        raise _BadRow(f"{column} {err}") from None


def _agg_trade(cells: list[str], day: date) -> ArchiveTrade:
    _columns(cells, AGG_TRADE_COLUMNS)
    _boolean(cells, 7, "is_best_match")
    return ArchiveTrade(
        agg_id=_whole(cells, 0, "agg_trade_id"), price=_decimal(cells, 1, "price"),
        qty=_decimal(cells, 2, "quantity"), first_id=_whole(cells, 3, "first_trade_id"),
        last_id=_whole(cells, 4, "last_trade_id"),
        time_ms=_time(cells, 5, "transact_time", day),
        buyer_maker=_boolean(cells, 6, "is_buyer_maker"),
    )


def _kline(cells: list[str], day: date) -> ArchiveKline:
    _columns(cells, KLINE_COLUMNS)
    trades = _whole(cells, 8, "number_of_trades")
    if trades < 0:
        raise _BadRow(f"number_of_trades is negative: {trades}")
    return ArchiveKline(
        open_time_ms=_time(cells, 0, "open_time", day), open=_decimal(cells, 1, "open"),
        high=_decimal(cells, 2, "high"), low=_decimal(cells, 3, "low"),
        close=_decimal(cells, 4, "close"), volume=_decimal(cells, 5, "volume"),
        close_time_ms=_time(cells, 6, "close_time", day),
        quote_volume=_decimal(cells, 7, "quote_asset_volume"), trades=trades,
        taker_buy_volume=_decimal(cells, 9, "taker_buy_base_asset_volume"),
        taker_buy_quote_volume=_decimal(cells, 10, "taker_buy_quote_asset_volume"),
    )
