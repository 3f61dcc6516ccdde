"""Commands, as faust app commands (``faust -A cryptoflow <command> --help``).

``latest``, ``stats BTCUSDT [--limit 100]`` and ``jumps BTCUSDT [--threshold 0.01]``
are the original design's query helpers: they read MongoDB and print a readable
table (``--json`` for machines); the numbers come from pure functions below.
``backfill candles|trades BTCUSDT --since 2024-01-01`` loads Binance's klines or
aggregate trades (the module ``backfill`` of this package); ``export candles BTCUSDT
--since 2026-11-01`` writes the recorded candles to a file (see ``cryptoflow.export``).
The other modules of this package hold more commands: each registers itself when the
package imports it.

Every command takes ``--demo`` (the database and simulated exchange of ``make demo``
instead of the configured ones) and ``--debug``. It asks the database for a ping
before anything else; one that does not answer within the client's server selection
timeout ends the command with one line naming it and what to check, and exit status 1
(the traceback only with ``--debug``). Its closing line, on stderr, names the database
it read or wrote, and an empty result says where it looked and what to try.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import pkgutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import IO, Any

import click
from faust.cli import AppCommand, argument, option
from pymongo.errors import ConnectionFailure, PyMongoError

from cryptoflow.app import app
from cryptoflow.exceptions import MissingExtra
from cryptoflow.export import (
    BINARY,
    CANDLES,
    FORMATS,
    TRADES,
    export_candles,
    export_trades,
    open_writer,
    parquet_module,
    slots,
)
from cryptoflow.records import format_ts
from cryptoflow.settings import DEMO_DATABASE, Settings, mask_uri, topic_name
from cryptoflow.sinks.mongo import TickStore
from cryptoflow.tables.series import INTERVALS
from cryptoflow.web.api import json_safe


def window_stats(prices: Sequence[float]) -> dict[str, Any]:
    """min/max/avg/count of the last N prices, as the original ``stats`` helper."""
    if not prices:
        return {"count": 0, "min": None, "max": None, "avg": None}
    return {"count": len(prices), "min": min(prices), "max": max(prices),
            "avg": statistics.fmean(prices)}


def consecutive_jumps(
    ticks: Sequence[tuple[float, datetime]], threshold: float,
) -> list[dict[str, Any]]:
    """Moves between consecutive ticks (oldest first) beyond ``threshold``."""
    jumps = []
    for (before, before_ts), (after, after_ts) in pairwise(ticks):
        change = (after - before) / before
        if abs(change) > threshold:
            jumps.append({"from_ts": format_ts(before_ts), "ts": format_ts(after_ts),
                          "from_price": before, "to_price": after, "change_pct": change * 100})
    return jumps


NOTHING_STORED = "(nothing stored yet)"


def jumps_report(
    symbol: str, ticks: Sequence[tuple[float, datetime]], threshold: float, as_json: bool,
) -> str:
    """What ``jumps`` prints: the jumps, or why there are none (no ticks, or no move
    beyond ``threshold`` among them)."""
    empty = (f"no jumps beyond {threshold:.2%} in the {len(ticks)} stored tick(s) of {symbol}"
             if ticks else NOTHING_STORED)
    return render(consecutive_jumps(ticks, threshold), as_json, empty)


def render(rows: list[dict[str, Any]], as_json: bool, empty: str = NOTHING_STORED) -> str:
    """A plain text table (or JSON) of ``rows``, columns in the order of the first row;
    ``empty`` when there are none."""
    if as_json:
        return json.dumps(json_safe(rows), indent=2)
    if not rows:
        return empty
    columns = list(rows[0])
    cells = [[_cell(c, row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(column: str, value: Any) -> str:
    """Percentages with two decimals; prices below 1 with 8 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, float) and column.endswith("_pct"):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.8g}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def _symbol(_ctx: click.Context, _param: click.Parameter, raw: str) -> str:
    """Checked by click before the command runs, so a typo is a usage error."""
    symbol = raw.upper()
    if symbol not in app.settings.tick_symbols:
        known = ", ".join(app.settings.tick_symbols)
        raise click.BadParameter(f"{raw} is not a configured symbol ({known})")
    return symbol


DEMO_MONGO_URI = "mongodb://127.0.0.1:27017"  # the database of make demo (the local stack's)
DEMO_BINANCE_URL = "http://127.0.0.1:8081"  # the simulated exchange of make demo
PING_TIMEOUT = 5.0  # seconds the database client waits for a server to answer


@dataclass(frozen=True)
class Target:
    """The database a command reads or writes, and the exchange a backfill asks."""

    mongo_uri: str
    database: str
    binance_url: str
    demo: bool

    @classmethod
    def of(cls, settings: Settings, demo: bool) -> Target:
        """``make demo``'s database and exchange with ``--demo``; else the configured ones."""
        if demo:
            return cls(DEMO_MONGO_URI, DEMO_DATABASE, DEMO_BINANCE_URL, demo=True)
        return cls(settings.mongo_uri, settings.mongo_db, settings.binance_url, demo=False)

    def where(self) -> str:
        """``database fx at mongodb://...``, its password masked."""
        return f"database {self.database} at {mask_uri(self.mongo_uri)}"

    def failed(self, err: PyMongoError) -> str:
        """The one line of a command whose database failed: which, and what to check."""
        if not isinstance(err, ConnectionFailure):
            return f"cryptoflow: the {self.where()} failed: {type(err).__name__}: {err}"
        check = ("is the demo running? start it with make demo" if self.demo else
                 "start the local stack with make run (or make demo, and add --demo), or set "
                 "CRYPTOFLOW_MONGO_URI")
        return (f"cryptoflow: the {self.where()} did not answer within {PING_TIMEOUT:g}s; "
                f"{check} (--debug shows the traceback)")

    def nothing_found(self, of: str = "") -> str:
        """What an empty result adds: where it looked (for ``of``) and what to try."""
        if self.demo:
            return (f"nothing stored{of} in the {self.where()}: is the demo running (make "
                    "demo)? make run's recording is read without --demo")
        other = "" if self.database == DEMO_DATABASE else (
            f" The demo's is in {DEMO_DATABASE}: add --demo.")
        return (f"nothing stored{of} in the {self.where()}: is a worker recording into it "
                f"(make run)?{other} Another database: set CRYPTOFLOW_MONGO_DB")

    def closing(self, found: bool) -> str:
        """The closing line of a read: where from, or ``nothing_found``."""
        return f"read from the {self.where()}" if found else self.nothing_found()


Body = Callable[..., Awaitable[None]]


def command(*params: Any, name: str | None = None) -> Callable[[Body], type[AppCommand]]:
    """``app.command`` with ``--demo`` and ``--debug``. The body gets the ``Target`` and
    its store, which has answered a ping, then its own parameters. A database failure
    ends the command with ``Target.failed`` and exit status 1; with ``--debug`` (or
    faust's own) with the traceback. The command is named after the body unless ``name``
    says otherwise (click names it after the function, and ``import`` is no Python
    function name)."""

    def register(body: Body) -> type[AppCommand]:
        @functools.wraps(body)
        async def run(
            self: AppCommand, *args: Any, demo: bool, debug: bool, **kwargs: Any,
        ) -> None:
            target = Target.of(app.settings, demo)
            store = TickStore(target.mongo_uri, target.database, server_timeout=PING_TIMEOUT)
            try:
                await store.ping()
                await body(target, store, *args, **kwargs)
            except PyMongoError as err:
                if debug or self.debug:
                    raise
                raise SystemExit(target.failed(err)) from None
            finally:
                await store.close()

        if name is not None:
            run.__name__ = run.__qualname__ = name
        return app.command(
            *params,
            option("--demo", is_flag=True,
                   help=f"make demo's database (at {DEMO_MONGO_URI}) and simulated "
                        f"exchange ({DEMO_BINANCE_URL})"),
            option("--debug", is_flag=True, help="show the traceback of a failure"),
        )(run)

    return register


@command(option("--json", "as_json", is_flag=True, help="print JSON"))
async def latest(target: Target, store: TickStore, as_json: bool) -> None:
    """Latest stored price of every configured symbol."""
    rows = []
    for symbol in app.settings.tick_symbols:
        ticks = await store.last_ticks(topic_name(symbol), 1)
        rows.append({"symbol": symbol, "price": ticks[-1]["price"] if ticks else None,
                     "ts": format_ts(ticks[-1]["ts"]) if ticks else None})
    print(render(rows, as_json))
    print(target.closing(any(row["price"] is not None for row in rows)), file=sys.stderr)


@command(
    argument("symbol", callback=_symbol),
    option("--limit", type=int, default=100, show_default=True, help="last N ticks"),
    option("--json", "as_json", is_flag=True, help="print JSON"),
)
async def stats(
    target: Target, store: TickStore, symbol: str, limit: int, as_json: bool,
) -> None:
    """min/max/avg/count over the last N stored ticks of SYMBOL."""
    ticks = await store.last_ticks(topic_name(symbol), limit)
    print(render([{"symbol": symbol, **window_stats([t["price"] for t in ticks])}],
                 as_json))
    print(target.closing(bool(ticks)), file=sys.stderr)


@command(
    argument("symbol", callback=_symbol),
    option("--threshold", type=float, default=0.02, show_default=True,
           help="relative move, 0.01 = 1 %"),
    option("--limit", type=int, default=1000, show_default=True, help="last N ticks"),
    option("--json", "as_json", is_flag=True, help="print JSON"),
)
async def jumps(
    target: Target, store: TickStore, symbol: str, threshold: float, limit: int,
    as_json: bool,
) -> None:
    """Jumps between consecutive stored ticks of SYMBOL beyond --threshold."""
    ticks = await store.last_ticks(topic_name(symbol), limit)
    print(jumps_report(symbol, [(t["price"], t["ts"]) for t in ticks], threshold, as_json))
    print(target.closing(bool(ticks)), file=sys.stderr)


def _moment(_ctx: click.Context, param: click.Parameter, raw: str | None) -> datetime | None:
    """A date or ISO-8601 time (UTC unless it says otherwise), cut to the minute."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise click.BadParameter(f"not a date or ISO-8601 time: {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


EXPORTS = ("candles", "trades")


@contextlib.contextmanager
def _output(path: str, binary: bool) -> Iterator[IO[Any]]:
    """The file at ``path``, or stdout for ``-`` (left open)."""
    if path == "-":
        yield sys.stdout
        return
    with open(path, "wb") if binary else open(path, "w", encoding="utf-8", newline="") as out:
        yield out


@command(
    argument("what", type=click.Choice(EXPORTS)),
    argument("symbol", callback=_symbol),
    option("--since", required=True, callback=_moment, help="first minute, e.g. 2026-11-01"),
    option("--until", callback=_moment, help="end (exclusive); default: now, with the open candle"),
    option("--interval", type=click.Choice(list(INTERVALS)), default="1m", show_default=True,
           help="candle size (candles only)"),
    option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
           help="parquet needs the parquet extra"),
    option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
           help="file to write; - is stdout"),
)
async def export(
    target: Target, store: TickStore, what: str, symbol: str, since: datetime,
    until: datetime | None, interval: str, fmt: str, output: str,
) -> None:
    """Write the recorded candles (or trades) of SYMBOL in [--since, --until) to a file, a
    page at a time, with the values of /api/candles/ (or /api/trades/)."""
    spec = INTERVALS[interval]
    end = until or datetime.now(UTC)
    if end <= since:
        raise SystemExit("--until must come after --since")
    if fmt in BINARY and output == "-":
        raise SystemExit(f"--format {fmt} is binary: give a file with -o")
    started = time.monotonic()
    trades = what == "trades"
    try:
        if fmt == "parquet":
            parquet_module()  # before the file is created
        length = int((end - since).total_seconds()) if trades else slots(spec, since, end)
        with _output(output, fmt in BINARY) as out, click.progressbar(
                length=length, label=f"{symbol} {what if trades else f'{interval} {what}'}",
                show_pos=not trades, show_eta=True, file=sys.stderr) as bar:
            writer = open_writer(fmt, out, TRADES if trades else CANDLES, symbol)
            if trades:
                written = await export_trades(store, symbol, since, end, writer, bar.update)
            else:
                written = await export_candles(store, symbol, spec, since, end, writer,
                                               bar.update)
            writer.close()
    except MissingExtra as err:
        raise click.ClickException(str(err)) from None
    rows = "trade(s)" if trades else f"{interval} candle(s)"
    print(f"{symbol}: {written} {rows} from {format_ts(since)} to {format_ts(end)} of the "
          f"{target.where()} written to {'stdout' if output == '-' else output} in "
          f"{time.monotonic() - started:.1f}s", file=sys.stderr)
    if not written:
        print(target.nothing_found(f" for {symbol} in that range"), file=sys.stderr)


def _register_all() -> None:
    """Import every module of this package: each registers its commands on ``app``."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register_all()
