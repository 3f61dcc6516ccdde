"""The simulated exchange writes a day of its history as data.binance.vision publishes
it: the archive reader reads back what aggTrades and klines list, planted differences
show, and a bad checksum is caught."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cryptoflow.devstack.simexchange import (
    DAY_MS,
    MINUTE_MS,
    ArchivePlant,
    SimExchange,
    SimExchangeThread,
)
from cryptoflow.records import trade_from_fields
from cryptoflow.sources.archives import (
    ArchiveName,
    read_agg_trades,
    read_klines,
    verify_checksum,
)
from tests.conftest import stopped_exchange

SYMBOL = "BTCUSDT"
INVALID = 3


@pytest.fixture(scope="module")
def sim() -> Iterator[SimExchange]:
    """An exchange that ran for a moment (three minutes of history, three trades marked
    invalid) and stopped: its history stays as it is while the tests read it."""
    yield stopped_exchange(SYMBOL, INVALID, seed=17, trade_rate=20.0, history=180.0)


def day_of(time_ms: int) -> date:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).date()


def start_of(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def listed(sim: SimExchange, day: date) -> list[dict[str, Any]]:
    """The day's trades as aggTrades lists them, without the unused best-match field."""
    return [{k: v for k, v in t.items() if k != "M"} for t in sim.agg_trades(SYMBOL)
            if day_of(t["T"]) == day]


def read_trades(path: Path) -> list[dict[str, Any]]:
    return [row.fields() for batch in read_agg_trades(path, batch_size=500) for row in batch]


def read_rest_klines(path: Path) -> list[list[Any]]:
    return [row.rest() for batch in read_klines(path, batch_size=500) for row in batch]


def today(sim: SimExchange) -> date:
    return day_of(sim.agg_trades(SYMBOL)[-1]["T"])


def test_a_day_of_aggtrades_reads_back_as_aggtrades_lists_it(
    sim: SimExchange, tmp_path: Path,
) -> None:
    day = today(sim)
    path = sim.write_archive(SYMBOL, "aggTrades", day, tmp_path)
    assert path == tmp_path / ArchiveName.daily(SYMBOL, "aggTrades", day).zip_name
    assert verify_checksum(path) is True
    expected = listed(sim, day)
    assert len(expected) > 1000
    assert read_trades(path) == expected
    first = expected[0]
    text = zipfile.ZipFile(path).read(f"{path.stem}.csv").decode()
    assert text.splitlines()[0] == (  # Binance's columns, microseconds, True/False
        f"{first['a']},{first['p']},{first['q']},{first['f']},{first['l']},"
        f"{first['T'] * 1000},{first['m']},True")


def test_trades_marked_invalid_are_written_as_binance_does(
    sim: SimExchange, tmp_path: Path,
) -> None:
    day = today(sim)
    rows = read_trades(sim.write_archive(SYMBOL, "aggTrades", day, tmp_path))
    invalid = {row["a"] for row in rows if (row["p"], row["q"], row["f"], row["l"]) == (
        "0.00000000", "0.00000000", -1, -1)}
    times = {t["a"]: t["T"] for t in sim.agg_trades(SYMBOL)}
    assert invalid == {i for i in sim.invalid_ids(SYMBOL) if day_of(times[i]) == day}
    assert invalid
    now = datetime.now(UTC)
    trades = [trade_from_fields(row, SYMBOL, now) for row in rows]
    assert {t.trade_id for t in trades if t.invalid} == invalid


def test_a_day_of_klines_reads_back_as_klines_lists_it(
    sim: SimExchange, tmp_path: Path,
) -> None:
    day = today(sim)
    path = sim.write_archive(SYMBOL, "klines", day, tmp_path)
    assert verify_checksum(path) is True
    expected = sim.klines(SYMBOL, start_of(day), start_of(day) + DAY_MS - 1)
    assert read_rest_klines(path) == expected
    # every minute of the day up to the last trade's has a kline: the past walk, then trades
    last = sim.agg_trades(SYMBOL)[-1]["T"]
    assert [k[0] for k in expected] == list(range(
        start_of(day), last - last % MINUTE_MS + MINUTE_MS, MINUTE_MS))


def test_a_day_before_2025_is_written_in_milliseconds(
    sim: SimExchange, tmp_path: Path,
) -> None:
    """The market's past walk has klines for any minute before its history: a whole day
    of 2024, with times in ms as archives of then have them; it has no trade then."""
    day = date(2024, 12, 31)
    path = sim.write_archive(SYMBOL, "klines", day, tmp_path)
    expected = sim.klines(SYMBOL, start_of(day), start_of(day) + DAY_MS - 1)
    assert len(expected) == 24 * 60
    assert read_rest_klines(path) == expected
    first = zipfile.ZipFile(path).read(f"{path.stem}.csv").split(b"\n")[0].split(b",")
    assert (int(first[0]), int(first[6])) == (start_of(day), start_of(day) + MINUTE_MS - 1)
    trades = sim.write_archive(SYMBOL, "aggTrades", day, tmp_path)
    assert list(read_agg_trades(trades)) == []
    assert verify_checksum(trades) is True


def test_planted_differences_show_in_what_is_read(sim: SimExchange, tmp_path: Path) -> None:
    day = today(sim)
    expected = listed(sim, day)
    gone, changed = expected[10]["a"], expected[20]["a"]
    plant = ArchivePlant(missing=frozenset({gone}), changed_qty={changed: "9.99000000"})
    got = {row["a"]: row for row in read_trades(
        sim.write_archive(SYMBOL, "aggTrades", day, tmp_path, plant=plant))}
    wanted = {row["a"]: row for row in expected}
    assert set(wanted) - set(got) == {gone}
    assert [a for a in got if got[a] != wanted[a]] == [changed]
    assert got[changed] == {**wanted[changed], "q": "9.99000000"}

    klines = sim.klines(SYMBOL, start_of(day), start_of(day) + DAY_MS - 1)
    minute = klines[5][0]
    written = read_rest_klines(sim.write_archive(
        SYMBOL, "klines", day, tmp_path, plant=ArchivePlant(missing=frozenset({minute}))))
    assert written == [k for k in klines if k[0] != minute]


def test_a_planted_bad_checksum_is_detected(sim: SimExchange, tmp_path: Path) -> None:
    day = today(sim)
    path = sim.write_archive(SYMBOL, "aggTrades", day, tmp_path,
                             plant=ArchivePlant(bad_checksum=True))
    assert verify_checksum(path) is False
    assert read_trades(path) == listed(sim, day)  # the zip itself is whole


def test_unknown_symbols_are_refused(sim: SimExchange, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown symbol"):
        sim.write_archive("DOGEUSDT", "aggTrades", date(2026, 12, 7), tmp_path)
    with pytest.raises(ValueError, match="unknown symbol"):
        sim.klines("DOGEUSDT", 0, MINUTE_MS)


def test_the_exchange_serves_its_archive_files_at_binance_vision_paths(tmp_path: Path) -> None:
    """``make demo``'s exchange serves the day's files where data.binance.vision has them,
    so the import walkthrough works offline: the zip reads back as aggTrades lists the
    day, the CHECKSUM served beside it is the zip's, and a name that is not there is 404."""
    import hashlib
    import urllib.error
    import urllib.request

    with SimExchangeThread(seed=5, trade_rate=20.0, history=60.0) as running:
        running.sim.quiet(60.0)  # the history stays as it is while the test reads it
        today = datetime.now(UTC).date()
        base = f"{running.url}/data/spot/daily"
        for kind, path in (("aggTrades", f"aggTrades/{SYMBOL}/{SYMBOL}-aggTrades-{today}.zip"),
                           ("klines", f"klines/{SYMBOL}/1m/{SYMBOL}-1m-{today}.zip")):
            archive = tmp_path / path.rsplit("/", 1)[-1]
            with urllib.request.urlopen(f"{base}/{path}", timeout=10) as response:  # noqa: S310
                archive.write_bytes(response.read())
            with urllib.request.urlopen(f"{base}/{path}.CHECKSUM", timeout=10) as response:  # noqa: S310
                (tmp_path / f"{archive.name}.CHECKSUM").write_bytes(response.read())
            assert verify_checksum(archive) is True
            digest = hashlib.sha256(archive.read_bytes()).hexdigest()
            assert (tmp_path / f"{archive.name}.CHECKSUM").read_text().split()[0] == digest
            if kind == "aggTrades":
                rows = [t.fields() for batch in read_agg_trades(archive) for t in batch]
                assert rows == listed(running.sim, today) and rows
            else:
                assert [batch for batch in read_klines(archive)]
        for missing in (f"aggTrades/ETHUSDT/{SYMBOL}-aggTrades-{today}.zip",
                        f"aggTrades/{SYMBOL}/{SYMBOL}-aggTrades-{today.isoformat()[:7]}.zip",
                        f"klines/{SYMBOL}/1m/{SYMBOL}-aggTrades-{today}.zip",
                        f"aggTrades/XYZUSDT/XYZUSDT-aggTrades-{today}.zip"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{base}/{missing}", timeout=10)  # noqa: S310
            assert refused.value.code == 404, missing
