"""Binance archive files: names, the time unit by the file's day, CHECKSUM files, rows
read in batches (with their row number when bad), and invalid trades handed to the one
validator of aggregate trades."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.exceptions import ArchiveError, CryptoflowError
from cryptoflow.records import AGG_TRADE_FIELDS, Trade, trade_from_fields
from cryptoflow.sources.archives import (
    MICROSECOND_FILES_FROM,
    ArchiveKline,
    ArchiveName,
    ArchiveTrade,
    agg_trade_row,
    file_time_ms,
    kline_row,
    read_agg_trades,
    read_klines,
    time_unit_divisor,
    to_file_time,
    verify_checksum,
    write_archive,
    write_checksum,
)

DAY = date(2026, 12, 7)
DAY_MS = 1_796_601_600_000  # 2026-12-07T00:00:00Z
NOW = datetime(2026, 12, 8, tzinfo=UTC)
TRADES_NAME = ArchiveName.daily("BTCUSDT", "aggTrades", DAY)
KLINES_NAME = ArchiveName.daily("BTCUSDT", "klines", DAY)
# 2017-01-01 to 2100-01-01 in epoch ms: any time an archive may hold
EARLIEST_MS, LATEST_MS = 1_483_228_800_000, 4_102_444_800_000


def trade(agg_id: int, time_ms: int = DAY_MS + 1234) -> ArchiveTrade:
    return ArchiveTrade(agg_id, "67234.50000000", "0.01200000", agg_id * 3, agg_id * 3 + 1,
                        time_ms, agg_id % 2 == 0)


def kline(open_ms: int) -> ArchiveKline:
    return ArchiveKline(open_ms, "67000.00000000", "67010.00000000", "66990.00000000",
                        "67005.00000000", "1.50000000", open_ms + 59_999, "100500.00000000",
                        42, "0.70000000", "46900.00000000")


def zip_of(directory: Path, name: ArchiveName, text: str) -> Path:
    """An archive written byte by byte, as Binance publishes one (not by our writer)."""
    path = directory / name.zip_name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name.csv_name, text)
    return path


# --- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("BTCUSDT-aggTrades-2026-12-07.zip",
     ArchiveName("BTCUSDT", "aggTrades", None, "daily", date(2026, 12, 7))),
    ("BTCUSDT-aggTrades-2026-12.zip",
     ArchiveName("BTCUSDT", "aggTrades", None, "monthly", date(2026, 12, 1))),
    ("ETHUSDT-1m-2024-02-29.zip",
     ArchiveName("ETHUSDT", "klines", "1m", "daily", date(2024, 2, 29))),
    ("1000SATSUSDT-1m-2025-01.zip",
     ArchiveName("1000SATSUSDT", "klines", "1m", "monthly", date(2025, 1, 1))),
])
def test_names_say_symbol_kind_period_and_first_day(name: str, expected: ArchiveName) -> None:
    parsed = ArchiveName.parse(name)
    assert parsed == expected
    assert parsed.zip_name == name
    assert parsed.csv_name == name.removesuffix(".zip") + ".csv"
    assert parsed.checksum_name == name + ".CHECKSUM"


@pytest.mark.parametrize(("name", "says"), [
    ("BTCUSDT-5m-2026-12-07.zip", "only 1m klines"),
    ("BTCUSDT-1mo-2026-12.zip", "only 1m klines"),
    ("BTCUSDT-trades-2026-12-07.zip", "unknown kind of archive 'trades'"),
    ("BTCUSDT-aggTrades-2026-02-30.zip", "not a date"),
    ("BTCUSDT-aggTrades-2026-13.zip", "not a date"),
    ("btcusdt-aggTrades-2026-12-07.zip", "not a Binance spot archive name"),
    ("BTCUSDT-aggTrades-2026-12-07.csv", "not a Binance spot archive name"),
    ("BTCUSDT-aggTrades-2026-12-07.zip.CHECKSUM", "not a Binance spot archive name"),
    ("data/BTCUSDT-aggTrades-2026-12-07.zip", "not a Binance spot archive name"),
    ("BTCUSDT-aggTrades-26-12-07.zip", "not a Binance spot archive name"),
    ("", "not a Binance spot archive name"),
])
def test_other_names_are_archive_errors(name: str, says: str) -> None:
    with pytest.raises(ArchiveError, match=says) as caught:
        ArchiveName.parse(name)
    assert isinstance(caught.value, CryptoflowError)


def test_names_are_checked_when_made_too() -> None:
    with pytest.raises(ArchiveError, match="from its first day"):
        ArchiveName("BTCUSDT", "aggTrades", None, "monthly", date(2026, 12, 7))
    with pytest.raises(ArchiveError, match="unknown kind of archive 'trades'"):
        ArchiveName.daily("BTCUSDT", "trades", DAY)  # type: ignore[arg-type]  # an unknown kind, on purpose
    with pytest.raises(ArchiveError, match="no interval"):
        ArchiveName("BTCUSDT", "aggTrades", "1m", "daily", DAY)


# --- the time unit ---------------------------------------------------------------------


def test_times_are_microseconds_from_2025_and_milliseconds_before() -> None:
    assert time_unit_divisor(date(2024, 12, 31)) == 1
    assert time_unit_divisor(date(2025, 1, 1)) == 1000
    assert time_unit_divisor(date(2017, 8, 17)) == 1
    assert time_unit_divisor(date(2026, 12, 7)) == 1000


@given(st.dates(min_value=date(2024, 11, 1), max_value=date(2025, 2, 28)))
def test_the_unit_switches_at_2025_01_01(day: date) -> None:
    assert time_unit_divisor(day) == (1000 if day >= date(2025, 1, 1) else 1)
    assert date(2025, 1, 1) == MICROSECOND_FILES_FROM


@given(st.integers(EARLIEST_MS, LATEST_MS),
       st.dates(min_value=date(2017, 1, 1), max_value=date(2099, 12, 31)),
       st.integers(0, 999))
def test_any_time_in_either_unit_reads_back_as_the_same_ms(
    time_ms: int, day: date, below_ms: int,
) -> None:
    written = to_file_time(time_ms, day)
    assert file_time_ms(written, day) == time_ms
    if time_unit_divisor(day) == 1000:  # microseconds: digits below a ms are dropped
        assert written == time_ms * 1000
        assert file_time_ms(written + below_ms, day) == time_ms
    else:
        assert written == time_ms


@given(st.integers(EARLIEST_MS, LATEST_MS))
def test_a_time_in_the_other_unit_is_refused(time_ms: int) -> None:
    with pytest.raises(ValueError, match="not a time in milliseconds"):
        file_time_ms(time_ms * 1000, date(2024, 12, 31))
    with pytest.raises(ValueError, match="not a time in microseconds"):
        file_time_ms(time_ms, date(2025, 1, 1))


# --- reading what Binance writes -------------------------------------------------------


def test_an_aggtrades_file_of_2025_on_is_read_in_ms_with_amounts_as_written(
    tmp_path: Path,
) -> None:
    path = zip_of(tmp_path, TRADES_NAME,
                  "412,67234.50000000,0.01200000,900,902,1796601600123456,True,True\n"
                  "413,67234.51000000,1.00000000,903,903,1796601600124000,False,True\n")
    assert list(read_agg_trades(path)) == [[
        ArchiveTrade(412, "67234.50000000", "0.01200000", 900, 902, 1_796_601_600_123, True),
        ArchiveTrade(413, "67234.51000000", "1.00000000", 903, 903, 1_796_601_600_124, False),
    ]]


def test_a_klines_file_before_2025_is_read_in_ms(tmp_path: Path) -> None:
    name = ArchiveName.parse("BTCUSDT-1m-2020-10-01.zip")
    path = zip_of(tmp_path, name,
                  "1601510340000,4.15070000,4.15870000,4.15060000,4.15540000,539.23000000,"
                  "1601510399999,2240.39860900,13,401.82000000,1669.98121300,0\n")
    assert list(read_klines(path)) == [[ArchiveKline(
        1601510340000, "4.15070000", "4.15870000", "4.15060000", "4.15540000",
        "539.23000000", 1601510399999, "2240.39860900", 13, "401.82000000",
        "1669.98121300")]]


def test_written_rows_read_back_equal_in_either_unit(tmp_path: Path) -> None:
    for day in (date(2024, 12, 31), date(2025, 1, 1)):
        start_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        trades = [trade(n, start_ms + n * 1000) for n in range(1, 6)]
        klines = [kline(start_ms + n * 60_000) for n in range(5)]
        trades_name = ArchiveName.daily("BTCUSDT", "aggTrades", day)
        klines_name = ArchiveName.daily("BTCUSDT", "klines", day)
        written = write_archive(tmp_path, trades_name, [agg_trade_row(t, day) for t in trades])
        assert [t for batch in read_agg_trades(written) for t in batch] == trades
        written = write_archive(tmp_path, klines_name, [kline_row(k, day) for k in klines])
        assert [k for batch in read_klines(written) for k in batch] == klines
        first = zipfile.ZipFile(written).read(klines_name.csv_name).split(b",")[0]
        assert int(first) == start_ms * time_unit_divisor(day)


def test_rows_come_in_batches_as_the_file_is_read(tmp_path: Path) -> None:
    rows = [agg_trade_row(trade(n), DAY) for n in range(1, 26)]
    rows.append(["not", "a", "row"])
    path = write_archive(tmp_path, TRADES_NAME, rows)
    batches = read_agg_trades(path, batch_size=10)
    assert next(batches) == [trade(n) for n in range(1, 11)]
    assert next(batches) == [trade(n) for n in range(11, 21)]
    with pytest.raises(ArchiveError, match="row 26"):  # the last batch meets the bad row
        next(batches)
    assert [len(b) for b in read_klines(write_archive(
        tmp_path, KLINES_NAME, [kline_row(kline(DAY_MS), DAY)] * 7), batch_size=3)] == [3, 3, 1]
    with pytest.raises(ValueError, match="batch_size"):
        read_agg_trades(path, batch_size=0)


def test_a_header_line_is_skipped(tmp_path: Path) -> None:
    header = ["agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id",
              "transact_time", "is_buyer_maker", "is_best_match"]
    path = write_archive(tmp_path, TRADES_NAME,
                         [header] + [agg_trade_row(trade(n), DAY) for n in (1, 2)])
    assert list(read_agg_trades(path)) == [[trade(1), trade(2)]]
    header = ["open_time", "open", "high", "low", "close", "volume", "close_time",
              "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore"]
    path = write_archive(tmp_path, KLINES_NAME, [header, kline_row(kline(DAY_MS), DAY)])
    assert list(read_klines(path)) == [[kline(DAY_MS)]]


def test_a_header_counts_as_row_1(tmp_path: Path) -> None:
    rows = [["agg_trade_id"] * 8, agg_trade_row(trade(1), DAY), ["1"] * 7]
    with pytest.raises(ArchiveError, match=f"{TRADES_NAME.zip_name} row 3: 7 columns"):
        list(read_agg_trades(write_archive(tmp_path, TRADES_NAME, rows)))


GOOD_TRADE = agg_trade_row(trade(1), DAY)


@pytest.mark.parametrize(("index", "cell", "says"), [
    (None, None, "7 columns, expected 8"),
    (0, "12a", "agg_trade_id is not a whole number"),
    (1, "abc", "price is not a decimal number"),
    (1, "-1.5", "price is not a decimal number"),
    (2, "1e-3", "quantity is not a decimal number"),
    (2, "", "quantity is not a decimal number"),
    (3, "1.0", "first_trade_id is not a whole number"),
    (5, "1796601600123", "transact_time 1796601600123 is not a time in microseconds"),
    (5, "1796601600123000000", "transact_time .* is not a time in microseconds"),
    (6, "true", "is_buyer_maker is not True or False"),
    (7, "1", "is_best_match is not True or False"),
])
def test_a_bad_trade_row_is_an_error_naming_file_and_row(
    tmp_path: Path, index: int | None, cell: str | None, says: str,
) -> None:
    bad = GOOD_TRADE[:-1] if index is None else [
        cell if i == index else value for i, value in enumerate(GOOD_TRADE)]
    path = write_archive(tmp_path, TRADES_NAME, [GOOD_TRADE, GOOD_TRADE, bad, GOOD_TRADE])
    with pytest.raises(ArchiveError, match=f"^{TRADES_NAME.zip_name} row 3: {says}"):
        list(read_agg_trades(path))


def test_a_millisecond_time_in_a_file_of_2025_on_is_refused_and_the_converse(
    tmp_path: Path,
) -> None:
    old = date(2024, 12, 31)
    name = ArchiveName.daily("BTCUSDT", "klines", old)
    row = kline_row(kline(1_735_603_200_000), old)
    path = write_archive(tmp_path, name, [row, [str(1_735_603_260_000_000), *row[1:]]])
    with pytest.raises(ArchiveError, match=r"row 2: open_time .* not a time in milliseconds"):
        list(read_klines(path))
    row = kline_row(kline(DAY_MS), DAY)
    path = write_archive(tmp_path, KLINES_NAME, [[*row[:6], str(DAY_MS + 59_999), *row[7:]]])
    with pytest.raises(ArchiveError, match=r"row 1: close_time .* not a time in microseconds"):
        list(read_klines(path))


@pytest.mark.parametrize(("index", "cell", "says"), [
    (8, "-3", "number_of_trades is negative"),
    (8, "many", "number_of_trades is not a whole number"),
    (10, "1,5", "taker_buy_quote_asset_volume is not a decimal number"),
    (4, "NaN", "close is not a decimal number"),
])
def test_a_bad_kline_row_is_an_error_naming_file_and_row(
    tmp_path: Path, index: int, cell: str, says: str,
) -> None:
    good = kline_row(kline(DAY_MS), DAY)
    bad = [cell if i == index else value for i, value in enumerate(good)]
    path = write_archive(tmp_path, KLINES_NAME, [good, bad])
    with pytest.raises(ArchiveError, match=f"{KLINES_NAME.zip_name} row 2: ({says})"):
        list(read_klines(path))


def test_files_that_are_not_archives_of_that_kind_are_errors(tmp_path: Path) -> None:
    trades = write_archive(tmp_path, TRADES_NAME, [GOOD_TRADE])
    with pytest.raises(ArchiveError, match="an archive of aggTrades, not of klines"):
        read_klines(trades)
    renamed = trades.rename(tmp_path / "trades.zip")
    with pytest.raises(ArchiveError, match="not a Binance spot archive name"):
        read_agg_trades(renamed)
    not_zip = tmp_path / KLINES_NAME.zip_name
    not_zip.write_bytes(b"<html>404</html>")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        list(read_klines(not_zip))
    other = tmp_path / TRADES_NAME.zip_name
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("something-else.csv", "1,2\n")
    with pytest.raises(ArchiveError, match=f"holds no {TRADES_NAME.csv_name}"):
        list(read_agg_trades(other))
    binary = zip_of(tmp_path, TRADES_NAME, "1,\xff\n")
    with pytest.raises(ArchiveError, match="row 1: not CSV text"):
        list(read_agg_trades(binary))


# --- invalid trades --------------------------------------------------------------------


def test_trades_marked_invalid_become_invalid_trades_through_the_one_validator(
    tmp_path: Path,
) -> None:
    path = zip_of(tmp_path, TRADES_NAME,
                  "412,67234.50000000,0.01200000,900,902,1796601600123456,True,True\n"
                  "413,0.00000000,0.00000000,-1,-1,1796601600124000,False,True\n"
                  "414,0,0,-1,-1,1796601600125000,True,True\n")
    rows = [row for batch in read_agg_trades(path) for row in batch]
    assert all(set(row.fields()) == set(AGG_TRADE_FIELDS) for row in rows)
    trades = [trade_from_fields(row.fields(), "BTCUSDT", NOW) for row in rows]
    assert trades[0] == Trade("BTCUSDT", 412, 67234.5, 0.012, 900, 902, 1_796_601_600_123,
                              True)
    assert trades[1:] == [
        Trade("BTCUSDT", 413, 0.0, 0.0, -1, -1, 1_796_601_600_124, False, invalid=True),
        Trade("BTCUSDT", 414, 0.0, 0.0, -1, -1, 1_796_601_600_125, True, invalid=True)]


def test_fields_and_rest_rows_convert_both_ways() -> None:
    one = trade(7)
    assert ArchiveTrade.from_fields(one.fields()) == one
    assert ArchiveTrade.from_fields({**one.fields(), "M": True}) == one
    row = kline(DAY_MS)
    assert ArchiveKline.from_rest(row.rest()) == row
    assert row.rest()[-1] == "0" and len(row.rest()) == 12


# --- checksums -------------------------------------------------------------------------


def test_a_checksum_beside_the_zip_is_verified(tmp_path: Path) -> None:
    path = write_archive(tmp_path, TRADES_NAME, [GOOD_TRADE])
    checksum = tmp_path / TRADES_NAME.checksum_name
    digest, name = checksum.read_text().split("  ")
    assert len(digest) == 64 and name == f"{TRADES_NAME.zip_name}\n"
    assert verify_checksum(path) is True
    checksum.write_text(f"{digest.upper()} *{TRADES_NAME.zip_name}")  # sha256sum -b, no EOL
    assert verify_checksum(path) is True
    write_checksum(path, "0" * 64)
    assert verify_checksum(path) is False
    write_checksum(path)
    with zipfile.ZipFile(path, "a") as archive:  # the zip changes after its checksum
        archive.writestr("extra.txt", "x")
    assert verify_checksum(path) is False
    checksum.unlink()
    assert verify_checksum(path) is None


@pytest.mark.parametrize("content", [
    b"",
    b"abc  BTCUSDT-aggTrades-2026-12-07.zip\n",
    b"0" * 64 + b"\n",
    b"0" * 64 + b" BTCUSDT-aggTrades-2026-12-07.zip\n",
    b"0" * 64 + b"  BTCUSDT-aggTrades-2026-12-06.zip\n",
    b"0" * 64 + b"  BTCUSDT-aggTrades-2026-12-07.zip\n" + b"0" * 64 + b"  x.zip\n",
    b"0" * 64 + b"  BTCUSDT-aggTrades-2026-12-07.zip\xff\n",
    b"0" * 64 + b"  " + b"x" * 2000 + b"\n",
])
def test_a_malformed_checksum_file_is_an_archive_error(tmp_path: Path, content: bytes) -> None:
    path = write_archive(tmp_path, TRADES_NAME, [GOOD_TRADE])
    (tmp_path / TRADES_NAME.checksum_name).write_bytes(content)
    with pytest.raises(ArchiveError, match=TRADES_NAME.checksum_name):
        verify_checksum(path)


def test_the_checksum_is_sha256_of_the_zip(tmp_path: Path) -> None:
    path = write_archive(tmp_path, TRADES_NAME, [GOOD_TRADE])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / TRADES_NAME.checksum_name).read_text() == (
        f"{digest}  {TRADES_NAME.zip_name}\n")
