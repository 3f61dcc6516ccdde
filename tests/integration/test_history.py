"""The history API and the export command against a real worker and database: candles
written into MongoDB (directly, or by the job from stored ticks), read back by range."""

from __future__ import annotations

import csv
import io
import json
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.records import PriceTick
from tests.integration.conftest import WorkerProcess, get, wait_for

MINUTE = timedelta(minutes=1)
# A range of recorded candles 30 hours ago: past the jobs' reach for 1-minute candles
# (1 h back) but within it for hourly ones (48 h), so 1h candles are rolled up when asked.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
QUIET = {"CRYPTOFLOW_POLL_INTERVAL": "0", "CRYPTOFLOW_CANDLE_INTERVAL": "3600"}


def recorded_candles(count: int = 250, first: datetime = T0) -> list[dict[str, Any]]:
    """1-minute candles as the job and the backfill write them, with gaps: minutes
    0..count-1 after ``first`` except every 7th; the first half from ticks, the rest klines."""
    docs = []
    for minute in (m for m in range(count) if m % 7 != 3):
        start = first + minute * MINUTE
        base = 100.0 + minute * 0.25
        doc: dict[str, Any] = {
            "_id": f"BTCUSDT/{start.isoformat()}", "symbol": "BTCUSDT", "start": start,
            "end": start + MINUTE, "open": base, "high": base + 1.5, "low": base - 0.75,
            "close": base + 0.5, "count": 3 + minute % 5}
        if minute < count // 2:
            doc.update(mean=base + 0.1, stddev=0.5)
        else:
            doc.update(mean=None, stddev=None, source="binance-klines")
        docs.append(doc)
    return docs


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", ".000Z")


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """What the API documents for a closed candle, written out independently of the code."""
    row = {"start": iso(doc["start"]), "open": doc["open"],
           "high": doc["high"], "low": doc["low"], "close": doc["close"], "count": doc["count"]}
    if doc.get("source"):
        row["source"] = doc["source"]
    return {**row, "closed": True}


def request(worker: WorkerProcess, url: str, accept: str | None = None,
            ) -> tuple[int, dict[str, str], str]:
    """Status, headers and body text of a GET (``url``: a path or a whole URL)."""
    if url.startswith("/"):
        url = f"http://127.0.0.1:{worker.web_port}{url}"
    headers = {"Accept": accept} if accept else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),  # noqa: S310
                                    timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def follow_json(worker: WorkerProcess, path: str) -> list[list[dict[str, Any]]]:
    pages, url = [], path
    while url is not None:
        status, _, text = request(worker, url)
        assert status == 200, text
        body = json.loads(text)
        pages.append(body["candles"])
        url = body["next"]
        assert len(pages) < 100, "next never became null"
    return pages


def csv_rows(text: str) -> list[dict[str, Any]]:
    """CSV lines back as the JSON values: empty cells left out, numbers and booleans parsed."""
    return [{name: value if name in ("start", "source") else json.loads(value)
             for name, value in row.items() if value != ""}
            for row in csv.DictReader(io.StringIO(text))]


def test_pages_cover_the_range_once_and_csv_says_the_same(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
) -> None:
    docs = recorded_candles()
    mongo["candles_1m"].insert_many(docs)
    mongo["candles_1m"].insert_many([  # another symbol in the same minutes stays out
        {**doc, "_id": doc["_id"].replace("BTC", "ETH"), "symbol": "ETHUSDT", "open": 1.0}
        for doc in docs[:50]])
    worker = start_worker(**QUIET)
    start, end = docs[3]["start"], docs[-5]["start"]  # both candle starts: in, and out
    expected = [public(doc) for doc in docs if start <= doc["start"] < end]
    query = f"start={start.isoformat()}&end={end.isoformat()}&limit=60"

    pages = follow_json(worker, f"/api/candles/btcusdt/?{query}")
    slots = (end - start) // MINUTE  # a page reads 61 slots: 60 candles unless some miss
    assert len(pages) == -(-slots // 61) >= 3
    assert all(52 <= len(page) <= 60 for page in pages[:-1])
    assert [c for page in pages for c in page] == expected  # oldest first, no gap, no repeat

    csv_pages, url = [], f"/api/candles/BTCUSDT/?{query}&format=csv"
    while url:
        status, headers, text = request(worker, url)
        assert (status, headers["Content-Type"].split(";")[0]) == (200, "text/csv")
        assert text.splitlines()[0] == (
            "start,open,high,low,close,volume,quote_volume,taker_buy_volume,"
            "taker_buy_quote_volume,trades,count,source,closed")
        csv_pages.append(csv_rows(text))
        link = headers.get("Link")
        url = link[1:link.index(">")] if link else None
        assert link is None or link.endswith('>; rel="next"')
    assert csv_pages == pages

    status, headers, text = request(worker, f"/api/candles/BTCUSDT/?{query}", accept="text/csv")
    assert status == 200 and csv_rows(text) == pages[0]
    status, body = get(worker, f"/api/candles/BTCUSDT/?{query}")
    assert body["next"] == f"http://127.0.0.1:{worker.web_port}/api/candles/BTCUSDT/?" + (
        f"interval=1m&start={iso(start + 61 * MINUTE)}&end={public(docs[-5])['start']}&limit=60")

    hourly = follow_json(worker, f"/api/candles/BTCUSDT/?interval=1h&start={T0.isoformat()}"
                                 f"&end={(T0 + timedelta(hours=5)).isoformat()}&limit=2")
    assert [len(page) for page in hourly] == [2, 2, 1]
    for hour, candle in enumerate(c for page in hourly for c in page):
        parts = [doc for doc in docs if doc["start"] - T0 < timedelta(hours=hour + 1)
                 and doc["start"] - T0 >= timedelta(hours=hour)]
        sources = {p.get("source", "ticks") for p in parts}
        expected = {
            "start": public(parts[0])["start"], "open": parts[0]["open"],
            "high": max(p["high"] for p in parts), "low": min(p["low"] for p in parts),
            "close": parts[-1]["close"], "closed": True}
        if len(sources) == 1:  # ticks' counts, or klines' trade counts: one kind
            expected["count"] = sum(p["count"] for p in parts)
        if sources != {"ticks"}:  # a tick count and a trade count do not add up
            expected["source"] = "mixed" if len(sources) > 1 else "binance-klines"
        assert candle == expected


BAD = [
    ("interval=2m", "interval"), ("interval=1d", "interval"), ("limit=0", "limit"),
    ("limit=1001", "limit"), ("limit=ten", "limit"), ("start=yesterday", "start"),
    ("start=2026-11-24T10:00:00", "start"), ("end=9999-12-31T00:00:00Z", "end"),
    ("start=2026-11-24T11:00:00Z&end=2026-11-24T10:00:00Z", "start"), ("format=xml", "format"),
]


def test_a_bad_parameter_is_a_400_naming_it(start_worker: Callable[..., WorkerProcess]) -> None:
    worker = start_worker(**QUIET)
    answers = [get(worker, f"/api/candles/BTCUSDT/?{query}") for query, _ in BAD]
    assert [(status, body["error"]["param"]) for status, body in answers] == [
        (400, param) for _, param in BAD]
    assert get(worker, "/api/candles/DOGEUSDT/")[0] == 404
    assert get(worker, "/api/candles/BTCUSDT/", "POST")[0] == 405
    assert get(worker, "/api/candles/BTCUSDT/?limit=1000") == (200, {
        "symbol": "BTCUSDT", "interval": "1m", "candles": [], "next": None})


def insert_ticks(mongo: Database[dict[str, Any]], first: datetime, last: datetime,
                 ) -> list[dict[str, Any]]:
    """A tick every 4.5 s in [first, last] into fx.sol, as the persist agent stores them."""
    ticks, moment, n = [], first, 0
    while moment <= last:
        ticks.append({"symbol": "SOLUSDT", "price": 150.0 + (n * 37 % 23) / 4, "ts": moment})
        moment += timedelta(milliseconds=4500)
        n += 1
    mongo["sol"].insert_many([PriceTick(**t).to_document() for t in ticks])
    return ticks


def of_ticks(ticks: list[dict[str, Any]], start: datetime, size: timedelta) -> dict[str, Any]:
    """The candle of the ticks in [start, start + size), computed here from the ticks."""
    prices = [t["price"] for t in ticks if start <= t["ts"] < start + size]
    return {"start": iso(start), "open": prices[0],
            "high": max(prices), "low": min(prices), "close": prices[-1], "count": len(prices),
            "mean": statistics.fmean(prices)}


def with_open_minute(
    mongo: Database[dict[str, Any]], read: Callable[[], list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], datetime]:
    """Ticks up to now in the open minute, then ``read()``; again if the minute ended
    in between (the open candle must still be open when read)."""
    for _ in range(3):
        now = datetime.now(UTC)
        minute = now.replace(second=0, microsecond=0)
        if now - minute > timedelta(seconds=45):
            time.sleep((minute + MINUTE - now).total_seconds())  # start at a new minute
            continue
        ticks = insert_ticks(mongo, minute, now.replace(microsecond=now.microsecond // 1000 * 1000))
        read()
        if datetime.now(UTC) < minute + MINUTE:
            return ticks, minute
        mongo["sol"].delete_many({"ts": {"$gte": minute}})
    pytest.fail("the minute ended during every read")


def test_5m_candles_rolled_from_the_jobs_minutes_equal_candles_of_their_ticks(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
) -> None:
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0", CRYPTOFLOW_CANDLE_INTERVAL="1")
    now = datetime.now(UTC)
    first = now.replace(second=0, microsecond=0) - timedelta(minutes=17)
    closed = insert_ticks(mongo, first + timedelta(seconds=2), first + timedelta(minutes=16))
    minutes = len({t["ts"].replace(second=0, microsecond=0) for t in closed})
    wait_for(lambda: mongo["candles_1m"].count_documents({"symbol": "SOLUSDT"}) >= minutes,
             what="the job's 1-minute candles")
    five = timedelta(minutes=5)
    since = first - (first - datetime(1970, 1, 1, tzinfo=UTC)) % five
    answers: dict[str, list[dict[str, Any]]] = {}

    def read() -> list[dict[str, Any]]:
        for interval in ("1m", "5m"):
            status, body = get(worker, f"/api/candles/SOLUSDT/?interval={interval}"
                                       f"&start={since.isoformat()}")
            assert status == 200 and body["next"] is None, body
            answers[interval] = body["candles"]
        return answers["5m"]

    open_ticks, open_minute = with_open_minute(mongo, read)
    ticks = closed + open_ticks
    slots = sorted({t["ts"] - (t["ts"] - since) % five for t in ticks})
    assert [c["start"] for c in answers["5m"]] == [of_ticks(ticks, s, five)["start"] for s in slots]
    for candle, slot in zip(answers["5m"], slots, strict=True):
        want = of_ticks(ticks, slot, five)
        assert {k: candle[k] for k in ("start", "open", "high", "low", "close", "count")} == {
            k: want[k] for k in ("start", "open", "high", "low", "close", "count")}
        assert candle["closed"] is (slot + five <= open_minute)
    assert answers["5m"][-1]["closed"] is False  # holds the open minute

    last = answers["1m"][-1]  # the open minute, built from its ticks so far
    assert last["start"] == of_ticks(ticks, open_minute, MINUTE)["start"]
    assert last["closed"] is False
    assert (last["open"], last["close"], last["count"]) == (
        open_ticks[0]["price"], open_ticks[-1]["price"], len(open_ticks))
    assert all(c["closed"] for c in answers["1m"][:-1])


def test_minutes_the_job_has_not_built_are_built_from_the_ticks(
    start_worker: Callable[..., WorkerProcess], mongo: Database[dict[str, Any]],
) -> None:
    worker = start_worker(**QUIET)  # the job does not run during this test
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=6)
    ticks = insert_ticks(mongo, first, first + timedelta(minutes=5, seconds=59))
    status, body = get(worker, f"/api/candles/SOLUSDT/?start={first.isoformat()}&limit=4")
    assert status == 200
    status, rest = get(worker, body["next"].split(f":{worker.web_port}")[1])
    candles = body["candles"] + rest["candles"]
    for minute, candle in enumerate(candles[:6]):
        want = of_ticks(ticks, first + minute * MINUTE, MINUTE)
        assert {k: candle[k] for k in want if k != "mean"} == {
            k: v for k, v in want.items() if k != "mean"}
        assert candle["closed"] is True
    assert mongo["candles_1m"].count_documents({}) == 0  # none of them came from the job


def run_export(stack: LocalStack, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **stack.env()}
    return subprocess.run(
        [sys.executable, "-m", "faust", "-A", "cryptoflow", "export", *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)


def test_export_writes_the_range_as_csv_json_lines_and_parquet(
    stack: LocalStack, tmp_path: Path, mongo: Database[dict[str, Any]],
) -> None:
    docs = recorded_candles(2400, T0 - timedelta(days=3))  # several pages of 1,000
    mongo["candles_1m"].insert_many(docs)
    since, until = docs[10]["start"], docs[-10]["start"]
    expected = [public(doc) for doc in docs if since <= doc["start"] < until]
    span = ["candles", "btcusdt", "--since", since.isoformat(), "--until", until.isoformat()]

    result = run_export(stack, tmp_path, *span, "-o", "out.csv")
    assert result.returncode == 0, result.stderr
    assert csv_rows((tmp_path / "out.csv").read_text()) == expected
    assert f"BTCUSDT: {len(expected)} 1m candle(s)" in result.stderr
    assert "BTCUSDT 1m candles" in result.stderr  # the progress bar's label

    result = run_export(stack, tmp_path, *span, "--format", "jsonl")  # to stdout
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == expected

    result = run_export(stack, tmp_path, *span, "--interval", "5m", "--format", "jsonl")
    rolled = [json.loads(line) for line in result.stdout.splitlines()]
    first, last = (docs[i]["start"] + (-(docs[i]["start"] - T0)) % timedelta(minutes=5)
                   for i in (10, -10))  # the 5-minute slots of the range (T0 is on one)
    assert [c["start"] for c in rolled] == sorted(
        {iso(d["start"] - (d["start"] - T0) % timedelta(minutes=5))
         for d in docs if first <= d["start"] < last})
    assert sum(c["count"] for c in rolled) == sum(
        d["count"] for d in docs if first <= d["start"] < last)

    pq = pytest.importorskip("pyarrow.parquet")
    result = run_export(stack, tmp_path, *span, "--format", "parquet", "-o", "out.parquet")
    assert result.returncode == 0, result.stderr
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert {row.pop("symbol") for row in rows} == {"BTCUSDT"}  # the file names its symbol
    assert [{k: v for k, v in row.items() if v is not None} | {"start": iso(row["start"])}
            for row in rows] == expected
