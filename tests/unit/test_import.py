"""The parts of ``import FILE...`` that need no database: what a file covers, the checks
that refuse a file, the trades up to a refused row, the kline candle, the closing lines,
and a trades import that stops at a bad row (on an in-memory store)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cryptoflow.commands.archives import (
    Imported,
    Refused,
    checked,
    covered_ms,
    csv_size,
    import_trades,
    kline_document,
    overall,
    valid_trades,
)
from cryptoflow.records import trade_key
from cryptoflow.sinks.mongo import WriteOutcome
from cryptoflow.sources.archives import (
    ArchiveKline,
    ArchiveName,
    ArchiveTrade,
    agg_trade_row,
    write_archive,
    write_checksum,
)
from cryptoflow.sources.backfill import kline_candle
from cryptoflow.sources.binance import Kline
from cryptoflow.tables.coverage import HOUR_MS

SYMBOL = "BTCUSDT"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
DAY = date(2026, 12, 7)
DAY_MS = int(datetime(2026, 12, 7, tzinfo=UTC).timestamp() * 1000)
WHERE = "database fx at mongodb://127.0.0.1:27017"


def ms(when: date) -> int:
    return int(datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(("name", "covered"), [
    ("BTCUSDT-aggTrades-2026-12-07.zip", (date(2026, 12, 7), date(2026, 12, 8))),
    ("BTCUSDT-aggTrades-2026-12-31.zip", (date(2026, 12, 31), date(2027, 1, 1))),
    ("BTCUSDT-aggTrades-2026-11.zip", (date(2026, 11, 1), date(2026, 12, 1))),
    ("BTCUSDT-1m-2026-12.zip", (date(2026, 12, 1), date(2027, 1, 1))),
    ("BTCUSDT-1m-2024-02.zip", (date(2024, 2, 1), date(2024, 3, 1))),
])
def test_a_file_covers_its_utc_day_or_month(name: str, covered: tuple[date, date]) -> None:
    assert covered_ms(ArchiveName.parse(name)) == (ms(covered[0]), ms(covered[1]))


def trade(agg_id: int, time_ms: int, price: str = "100.5") -> ArchiveTrade:
    zero = price == "0.00000000"
    return ArchiveTrade(agg_id, price, "0.00000000" if zero else "0.25000000",
                        -1 if zero else agg_id * 2, -1 if zero else agg_id * 2 + 1, time_ms,
                        agg_id % 2 == 0)


def archive(directory: Path, rows: Sequence[ArchiveTrade], day: date = DAY) -> Path:
    return write_archive(directory, ArchiveName.daily(SYMBOL, "aggTrades", day),
                         [agg_trade_row(row, day) for row in rows])


def test_a_checked_file_says_whether_its_checksum_was_verified(tmp_path: Path) -> None:
    path = archive(tmp_path, [trade(1, DAY_MS)])
    assert checked(path, SYMBOLS) == (ArchiveName.parse(path.name), True)
    path.with_name(path.name + ".CHECKSUM").unlink()
    assert checked(path, SYMBOLS) == (ArchiveName.parse(path.name), False)


@pytest.mark.parametrize(("name", "message"), [
    ("btc.zip", "'btc.zip' is not a Binance spot archive name"),
    ("BTCUSDT-5m-2026-12-07.zip", "only 1m klines archives are read"),
    ("XRPUSDT-aggTrades-2026-12-07.zip",
     "XRPUSDT is not a configured symbol (configured: BTCUSDT, ETHUSDT;"),
    ("ETHUSDT-aggTrades-2026-12-07.zip", "no such file"),
])
def test_a_file_is_refused_for_its_name_symbol_or_absence(
    tmp_path: Path, name: str, message: str,
) -> None:
    with pytest.raises(Refused) as refused:
        checked(tmp_path / name, SYMBOLS)
    assert message in str(refused.value)


def test_a_file_whose_checksum_differs_is_refused(tmp_path: Path) -> None:
    path = archive(tmp_path, [trade(1, DAY_MS)])
    write_checksum(path, "0" * 64)
    with pytest.raises(Refused, match=re.escape(
            "its sha256 is not the one BTCUSDT-aggTrades-2026-12-07.zip.CHECKSUM gives")):
        checked(path, SYMBOLS)
    path.with_name(path.name + ".CHECKSUM").write_text("garbage\n")
    with pytest.raises(Refused, match="not a checksum line"):
        checked(path, SYMBOLS)


def test_the_trades_stop_at_the_first_row_the_validator_refuses() -> None:
    now = datetime.now(UTC)
    rows = [trade(1, DAY_MS), trade(2, DAY_MS + 5, "0.00000000"),
            ArchiveTrade(3, "100.5", "0.25000000", 9, 8, DAY_MS + 9, False), trade(4, DAY_MS)]
    trades, refused = valid_trades(rows, SYMBOL, now, DAY)
    assert [(t.trade_id, t.invalid) for t in trades] == [(1, False), (2, True)]
    assert refused == ("aggregate trade 3 refused (last trade id 8 is before first trade id "
                       f"9): row 3,100.5,0.25000000,9,8,{(DAY_MS + 9) * 1000},False,True")
    assert valid_trades(rows[:2], SYMBOL, now, DAY) == (trades, None)


def test_an_archived_kline_becomes_the_candle_backfill_writes_for_it() -> None:
    row = ArchiveKline(DAY_MS, "100.50", "101.00", "99.00", "100.00", "2.50000000",
                       DAY_MS + 59_999, "251.25000000", 7, "1.50000000", "150.75000000")
    assert kline_document(SYMBOL, row) == kline_candle(SYMBOL, Kline(
        open_time=DAY_MS, open=100.5, high=101.0, low=99.0, close=100.0, volume=2.5,
        close_time=DAY_MS + 59_999, quote_volume=251.25, trades=7, taker_buy_volume=1.5,
        taker_buy_quote_volume=150.75))


def test_the_progress_counts_the_csv_bytes(tmp_path: Path) -> None:
    path = archive(tmp_path, [trade(1, DAY_MS), trade(2, DAY_MS + 1)])
    rows = [",".join(agg_trade_row(t, DAY)) + "\n" for t in (trade(1, DAY_MS),
                                                             trade(2, DAY_MS + 1))]
    assert csv_size(path, ArchiveName.parse(path.name)) == len("".join(rows))
    (tmp_path / "BTCUSDT-aggTrades-2026-12-08.zip").write_bytes(b"not a zip")
    assert csv_size(tmp_path / "BTCUSDT-aggTrades-2026-12-08.zip",
                    ArchiveName.parse("BTCUSDT-aggTrades-2026-12-08.zip")) == 0


def test_the_closing_lines_say_what_was_written_where() -> None:
    done = Imported("BTCUSDT-aggTrades-2026-12-07.zip", "aggTrades", rows=2000, new=1500,
                    present=500, candles=3, seconds=2.0)
    assert done.line(WHERE) == (
        "BTCUSDT-aggTrades-2026-12-07.zip: 2,000 rows read; trades: 1,500 new, 500 already "
        "stored; 3 candle(s) written in 2.0s (1,000 rows/s) to the " + WHERE)
    klines = Imported("BTCUSDT-1m-2026-12-07.zip", "klines", rows=1440, new=0,
                      present=1440, seconds=0.5)
    assert "candles_1m: 0 new, 1,440 already stored; 0 candle(s)" in klines.line(WHERE)
    refused = Imported("btc.zip", error="'btc.zip' is not a Binance spot archive name")
    assert refused.line(WHERE) == ("btc.zip: refused, nothing written: 'btc.zip' is not a "
                                   "Binance spot archive name")
    stopped = Imported("BTCUSDT-aggTrades-2026-12-07.zip", "aggTrades", rows=10, new=10,
                       seconds=1.0, error="aggregate trade 11 refused")
    assert stopped.line(WHERE).endswith("; stopped at the row above (a rerun writes nothing "
                                        "twice)")
    assert overall([done, klines, refused, stopped], 4.0, WHERE) == (
        "import: 2 of 4 file(s) imported, 2 failed; 3,450 rows read; 1,510 new, 1,940 "
        "already stored; 3 candle(s) written in 4.0s (862 rows/s) to the " + WHERE)


class MemoryStore:
    """What HistoryWriter asks of a TickStore, in memory."""

    def __init__(self) -> None:
        self.collections: dict[str, dict[Any, dict[str, Any]]] = {}

    def of(self, collection: str) -> dict[Any, dict[str, Any]]:
        return self.collections.setdefault(collection, {})

    async def insert(self, collection: str, documents: Sequence[dict[str, Any]]) -> WriteOutcome:
        outcome = WriteOutcome()
        for document in documents:
            stored = self.of(collection)
            (outcome.duplicates if document["_id"] in stored else outcome.inserted).append(
                document)
            stored.setdefault(document["_id"], document)
        return outcome

    async def replace(self, collection: str, documents: Sequence[dict[str, Any]]) -> None:
        self.of(collection).update((document["_id"], document) for document in documents)

    async def by_ids(self, collection: str, keys: Sequence[str]) -> list[dict[str, Any]]:
        return [self.of(collection)[key] for key in keys if key in self.of(collection)]

    async def set_fields(self, collection: str, documents: Sequence[dict[str, Any]]) -> None:
        for document in documents:
            self.of(collection).setdefault(document["_id"], {}).update(document)


@pytest.mark.asyncio
async def test_a_refused_row_stops_the_file_and_no_hour_from_its_on_is_complete(
    tmp_path: Path,
) -> None:
    """Trades in hours 0, 1 and 2 of the day; the row refused is in hour 1. What came
    before it is written; hour 0 is complete, hour 1 is not (its later trades were not
    read), and hour 2 is not in the ledger."""
    rows = [trade(i, DAY_MS + i * 60_000 * 20) for i in range(1, 6)]  # 20 min apart
    bad = ArchiveTrade(6, "100.5", "0.25000000", 9, 8, DAY_MS + 100 * 60_000 + 1, False)
    later = [trade(i, DAY_MS + 2 * HOUR_MS + i * 1000) for i in range(7, 9)]
    assert [t.time_ms // HOUR_MS - DAY_MS // HOUR_MS for t in rows] == [0, 0, 1, 1, 1]
    path = archive(tmp_path, [*rows, bad, *later])
    store = MemoryStore()
    result = Imported(path.name, "aggTrades")
    read: list[int] = []
    await import_trades(
        store, path, ArchiveName.parse(path.name), 4,  # type: ignore[arg-type]  # HistoryWriter's part of a TickStore
        result, lambda _bytes, rows_read: read.append(rows_read))
    assert result.error is not None and result.error.startswith("aggregate trade 6 refused")
    assert (result.rows, result.new, result.present) == (5, 5, 0)
    assert read == [4, 5]
    assert sorted(store.of("trades")) == [trade_key(SYMBOL, i) for i in range(1, 6)]
    ledger = sorted(store.of("coverage").values(), key=lambda doc: doc["hour"])
    assert [(doc["imported"]["ids"], doc["imported"]["complete"]) for doc in ledger] == [
        ([[1, 2]], True), ([[3, 5]], False)]
