"""How fast ``import FILE`` loads an aggTrades archive, against what the database itself
takes: the same trades documents written with bare ``insert_many``, in the same run.

``python -m bench.imports [--trades 200000] [--runs 3] [--batch 10000]`` starts a local
stack, writes one day's aggTrades archive of ``--trades`` trades (one every 0.4 s from the
start of yesterday, UTC: so times are past and in the day's file, prices a slow walk), and
per run: imports it with ``faust -A cryptoflow import`` into an empty database, imports it
again (every trade already stored), and inserts its ``Trade.to_document()``s with pymongo's
``insert_many``, ``--batch`` at a time, into another empty database. The import rates are
the command's own (the closing line's rows/s: reading, validating, the trades, candles and
ledger); the ratio to the ``insert_many`` rate is what the figure is, as both run on the
same machine at the same time, where the rates alone move with the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench.harness import BenchError, local_stack
from cryptoflow.devstack.localstack import LocalStack
from cryptoflow.records import trade_from_fields
from cryptoflow.sources.archives import (
    BATCH_ROWS,
    ArchiveName,
    ArchiveTrade,
    agg_trade_row,
    read_agg_trades,
    write_archive,
)

SYMBOL = "BTCUSDT"
SPACING_MS = 400
ROOT = Path(__file__).resolve().parents[1]
_RATE = re.compile(r"([\d,]+) rows read; trades: ([\d,]+) new.*\(([\d,]+) rows/s\)")


def archive(directory: Path, trades: int) -> tuple[Path, date]:
    """A day's aggTrades archive of ``trades`` trades from the start of yesterday."""
    day = datetime.now(UTC).date() - timedelta(days=1)
    if trades * SPACING_MS >= 86_400_000:
        raise BenchError(f"--trades {trades:,} do not fit in a day at one per {SPACING_MS} ms")
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    rows = (agg_trade_row(ArchiveTrade(
        agg_id=i, price=f"{60_000 + (i // 50) % 400 - 200 + i % 7 / 100:.2f}",
        qty=f"{0.001 * (1 + i % 13):.8f}", first_id=3 * i, last_id=3 * i + 2,
        time_ms=start + i * SPACING_MS, buyer_maker=i % 3 == 0), day) for i in range(trades))
    return write_archive(directory, ArchiveName.daily(SYMBOL, "aggTrades", day), rows), day


def run_import(stack: LocalStack, path: Path, database: str, batch: int) -> tuple[int, float]:
    """New trades and rows/s of one ``import`` into ``database`` (its closing line)."""
    env = {**os.environ, **stack.env(), "CRYPTOFLOW_MONGO_DB": database}
    done = subprocess.run(
        [sys.executable, "-m", "faust", "-A", "cryptoflow", "import", str(path),
         "--batch", str(batch)], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=1800, check=False)
    found = _RATE.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise BenchError(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
    return int(found[2].replace(",", "")), float(found[3].replace(",", ""))


def insert_many_rate(stack: LocalStack, path: Path, database: str, batch: int) -> float:
    """Trades documents/s of bare ``insert_many`` of the archive's trades (built first)."""
    now = datetime.now(UTC)
    documents: list[dict[str, Any]] = [
        trade_from_fields(row.fields(), SYMBOL, now).to_document()
        for rows in read_agg_trades(path, batch) for row in rows]
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
    try:
        collection = client[database]["trades"]
        began = time.perf_counter()
        for at in range(0, len(documents), batch):
            collection.insert_many(documents[at:at + batch], ordered=False)
        return len(documents) / (time.perf_counter() - began)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=BATCH_ROWS)
    args = parser.parse_args(argv)
    first: list[float] = []
    again: list[float] = []
    ceiling: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cryptoflow-bench-") as tmp, local_stack() as stack:
        path, day = archive(Path(tmp), args.trades)
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs} ...", file=sys.stderr, flush=True)
            new, rate = run_import(stack, path, f"import{run}", args.batch)
            if new != args.trades:
                raise BenchError(f"the first import wrote {new:,} trades, not {args.trades:,}")
            first.append(rate)
            new, rate = run_import(stack, path, f"import{run}", args.batch)
            if new != 0:
                raise BenchError(f"the second import wrote {new:,} trades, not 0")
            again.append(rate)
            ceiling.append(insert_many_rate(stack, path, f"ceiling{run}", args.batch))
    ratios = [rate / bound for rate, bound in zip(first, ceiling, strict=True)]
    print(f"{args.trades:,} trades of {day.isoformat()}, batches of {args.batch:,}, "
          f"median of {args.runs} run(s):")
    print(f"  import into an empty database: {statistics.median(first):,.0f} rows/s")
    print(f"  import again (all stored):     {statistics.median(again):,.0f} rows/s")
    print(f"  bare insert_many of the trades: {statistics.median(ceiling):,.0f} docs/s")
    print(f"  import / insert_many: {statistics.median(ratios):.2f} "
          f"({min(ratios):.2f} - {max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
