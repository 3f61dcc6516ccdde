"""The export's writers: a page at a time, the API's values, Parquet only with pyarrow."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cryptoflow.exceptions import MissingExtra
from cryptoflow.export import CANDLES, PARQUET_MISSING, TRADES, open_writer, slots
from cryptoflow.tables.series import CANDLE_COLUMNS, INTERVALS

PAGES = [
    [{"start": "2026-11-24T12:00:00.000Z", "open": 1.0, "high": 2.5, "low": 0.5, "close": 2.0,
      "count": 3, "closed": True}],
    [{"start": "2026-11-24T12:01:00.000Z", "open": 2.0, "high": 2.0, "low": 1.0, "close": 1.5,
      "volume": 0.25, "quote_volume": 0.4, "taker_buy_volume": 0.125,
      "taker_buy_quote_volume": 0.2, "trades": 7, "count": 7, "source": "binance-klines",
      "closed": False}],
]


def test_csv_has_one_header_and_a_line_per_row_across_pages() -> None:
    out = io.StringIO()
    writer = open_writer("csv", out, CANDLES, "BTCUSDT")
    for page in PAGES:
        writer.write(page)
    writer.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(CANDLE_COLUMNS)
    read = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["start"] for row in read] == [page[0]["start"] for page in PAGES]
    assert read[0]["volume"] == "" and read[1]["volume"] == "0.25"
    assert (read[1]["taker_buy_volume"], read[1]["taker_buy_quote_volume"]) == ("0.125", "0.2")
    assert [row["closed"] for row in read] == ["true", "false"]


def test_json_lines_are_the_rows_as_json() -> None:
    out = io.StringIO()
    writer = open_writer("jsonl", out, CANDLES, "BTCUSDT")
    for page in PAGES:
        writer.write(page)
    writer.close()
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [*PAGES[0], *PAGES[1]]


def test_parquet_holds_the_same_values_with_a_utc_start(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "candles.parquet"
    with path.open("wb") as out:
        writer = open_writer("parquet", out, CANDLES, "BTCUSDT")
        for page in [*PAGES, []]:
            writer.write(page)
        writer.close()
    table = pq.read_table(path)
    assert table.column_names == ["symbol", *CANDLE_COLUMNS]
    rows = table.to_pylist()
    assert rows[0]["start"] == datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert (rows[0]["volume"], rows[0]["source"], rows[0]["closed"]) == (None, None, True)
    assert {k: v for k, v in rows[1].items() if k != "start"} == {
        "symbol": "BTCUSDT", **{k: v for k, v in PAGES[1][0].items() if k != "start"}}


def test_a_trades_parquet_file_names_its_symbol(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    trade = {"trade_id": 7, "price": 150.25, "qty": 2.0, "first_trade_id": 9,
             "last_trade_id": 10, "ts": "2026-11-24T12:00:00.123Z", "is_buyer_maker": False}
    path = tmp_path / "trades.parquet"
    with path.open("wb") as out:
        writer = open_writer("parquet", out, TRADES, "SOLUSDT")
        writer.write([trade, {**trade, "trade_id": 8}])
        writer.close()
    rows = pq.read_table(path).to_pylist()
    assert [(row["symbol"], row["trade_id"]) for row in rows] == [("SOLUSDT", 7), ("SOLUSDT", 8)]
    assert rows[0]["ts"] == datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC)


def test_parquet_without_pyarrow_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    with pytest.raises(MissingExtra) as caught:
        open_writer("parquet", io.BytesIO(), CANDLES, "BTCUSDT")
    assert str(caught.value) == PARQUET_MISSING
    assert "pip install 'cryptoflow[parquet]'" in PARQUET_MISSING


def test_the_progress_counts_the_candle_slots_of_the_range() -> None:
    start = datetime(2026, 11, 24, 12, 0, 30, tzinfo=UTC)
    assert slots(INTERVALS["1m"], start, start + timedelta(minutes=10)) == 10
    assert slots(INTERVALS["5m"], start, start + timedelta(minutes=10)) == 2
    assert slots(INTERVALS["1h"], start, start) == 0
