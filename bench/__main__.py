"""``python -m bench``: run every benchmark ``--runs`` times and print one markdown table.

Each benchmark starts its own local stack (and simulated exchange) and real worker
processes; nothing else should run on the machine meanwhile. ``--only`` picks
benchmarks; ``--out`` also writes the table to a file (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import ingest, latency, memory, trades, web
from bench.harness import BenchError, Figure, machine, table

BENCHMARKS = ("ingest", "latency", "web", "memory", "trades")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per benchmark (default 3)")
    parser.add_argument("--only", action="append", choices=BENCHMARKS,
                        help="run only these (repeat the flag); default all")
    parser.add_argument("--records", type=int, default=100_000,
                        help="ticks drained by the ingest benchmark (default 100,000)")
    parser.add_argument("--naive-seconds", type=float, default=20.0,
                        help="how long the naive consumer runs per run (default 20)")
    parser.add_argument("--latency-seconds", type=float, default=45.0,
                        help="observed time per latency run (default 45)")
    parser.add_argument("--web-seconds", type=float, default=10.0)
    parser.add_argument("--memory-seconds", type=float, default=60.0)
    parser.add_argument("--trades-seconds", type=float, default=30.0,
                        help="observed time per trade rate (default 30)")
    parser.add_argument("--trades-rates", type=_rates, default=trades.RATES,
                        help="total trades/s over 200 symbols, comma-separated "
                             "(default 500,1000,2000,5000)")
    parser.add_argument("--trades-memory-seconds", type=float, default=60.0,
                        help="how long the 300-symbol worker streams (default 60)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    chosen = args.only or list(BENCHMARKS)

    figures: dict[str, dict[str, Figure]] = {
        "ingest": ingest.figures(), "latency": latency.figures(), "web": web.figures(),
        "memory": memory.figures(), "trades": trades.figures(args.trades_rates),
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cryptoflow-bench-") as tmp:
        workdir = Path(tmp)
        for run in range(1, args.runs + 1):
            for name in chosen:
                print(f"run {run}/{args.runs}: {name} ...", file=sys.stderr, flush=True)
                try:
                    if name == "ingest":
                        ingest.run(figures[name], workdir, args.records, args.naive_seconds)
                    elif name == "latency":
                        for case in ("default", "fast"):
                            latency.run(figures[name], workdir, case, args.latency_seconds)
                    elif name == "web":
                        web.run(figures[name], workdir, args.web_seconds)
                    elif name == "memory":
                        memory.run(figures[name], workdir, args.memory_seconds)
                    else:
                        trades.run(figures[name], workdir, args.trades_seconds,
                                   args.trades_rates, args.trades_memory_seconds)
                except BenchError as err:
                    print(f"bench: {name} failed: {err}", file=sys.stderr)
                    return 1
    rows = [figure for name in chosen for figure in figures[name].values()]
    report = "\n".join([
        f"cryptoflow benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{args.runs} run(s) each, {time.monotonic() - started:.0f} s in all",
        f"machine: {machine()}",
        *([f"ingest: {args.records:,} ticks over 3 symbol topics; naive consumer "
           f"{args.naive_seconds:g} s per run"] if "ingest" in chosen else []),
        *([f"trades: {trades.SYMBOLS} symbols, {args.trades_seconds:g} s per rate after a "
           f"{trades.WARM_UP:g} s warm-up; book tickers {trades.BOOK_RATE:g}/s per symbol"]
          if "trades" in chosen else []),
        "",
        table(rows),
    ])
    print(report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0


def _rates(text: str) -> tuple[int, ...]:
    try:
        rates = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected rates like 500,1000, got {text!r}") from None
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError(f"rates must be > 0, got {text!r}")
    return rates


if __name__ == "__main__":
    raise SystemExit(main())
