"""``verify SYMBOL --since T [--until T] [--against klines | --archive FILE ...]``: the
recording checked against a source it did not come from.

Against klines (the default): every minute of the range is rebuilt from the stored
trades with the live path's ``fold_trades`` and compared with Binance's 1-minute kline
(REST, ``KLINES_MAX`` minutes a request, through the client's one weight budget and the
commands' retry policy, ``sources.backfill.retried``), field by field
(tables/verification.py says the rule). Only minutes the recording covers whole are
compared (``compared_minutes``): from the range's start if the id before its first
stored trade is stored too, else from the minute after that trade's (the recording began
inside it: partial, said so, not compared), and likewise at the end. Ids missing between
the first and the last stored trade are the recording's: their minutes differ, and each
run of them is named, with the unfilled gap the streams recorded for it (``gaps``) or
whether Binance's REST still serves it.

Against archives (``--archive``, repeatable): data.binance.vision zips of aggregate
trades or 1-minute klines (cryptoflow/sources/archives.py). A CHECKSUM file beside a zip
is checked first. Aggregate trades are compared id by id over the part of the range the
file covers: the file's ids (read a batch at a time, the stored ones of the same ids read
by key) and the stored trades of that span outside them. An id that differs is looked up
at Binance's REST (``fetch_agg_trades`` from it, at most ``ARBITRATED`` ids): when REST
serves it as recorded, the line says the archive differs from Binance's REST and the
recording (Binance's archives have known holes). Klines archives compare like klines.

Output: each difference with its field and both values (the first ``--shown``, the rest
counted), then a summary. Each hour compared gets ``verified`` in its ledger document:
when, against what, ``equal`` or ``differs`` and how many differences. Exit status 0
when everything compared is equal, 1 with differences (or nothing recorded to compare),
2 when the source could not be read: Binance's REST after ``ATTEMPTS`` tries, an
unreadable archive, a checksum that does not match (nothing is written to the ledger).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from faust.cli import argument, option

from cryptoflow.app import app
from cryptoflow.commands import Target, _moment, _symbol, command
from cryptoflow.exceptions import ArchiveError, BinanceError
from cryptoflow.readback import TradeCursor, trade_page
from cryptoflow.records import Trade, format_ts, trade_key
from cryptoflow.sinks.mongo import COVERAGE, GAPS, TRADES, TickStore
from cryptoflow.sources.archives import ArchiveName, read_agg_trades, read_klines, verify_checksum
from cryptoflow.sources.backfill import ATTEMPTS, retried
from cryptoflow.sources.binance import AGG_TRADES_MAX, KLINES_MAX, BinanceClient
from cryptoflow.tables.coverage import ledger_id
from cryptoflow.tables.trade_candles import CandleState, candle_document, fold_trades
from cryptoflow.tables.verification import (
    MINUTE_MS,
    Difference,
    Fields,
    agrees,
    compared_minutes,
    hours_of,
    listed_fields,
    minute_differences,
    per_hour,
    result,
    stored_fields,
    trade_differences,
)

PAGE = 1000  # stored trades a read
SHOWN = 20  # differences printed by default; the rest are counted
ARBITRATED = 100  # differing archive ids looked up at Binance's REST, at most
ARCHIVE_DIFFERS = "the archive differs from Binance's REST and the recording"
RECORDING_DIFFERS = "Binance's REST agrees with the archive: the recording differs"
ALL_DIFFER = "Binance's REST differs from both"

Span = tuple[int, int]  # [start_ms, end_ms)


class Unreadable(Exception):
    """The source could not be read or trusted: exit status 2."""


@dataclass
class Recording:
    """The stored trades of a range: the candles rebuilt from them (by open time), the
    minutes covered whole, the runs of ids missing between the first and the last."""

    candles: dict[int, dict[str, Any]] = field(default_factory=dict)
    stored: int = 0
    first: tuple[int, int] | None = None  # (id, time ms) of the first stored trade
    last: tuple[int, int] | None = None
    holes: list[tuple[int, int]] = field(default_factory=list)
    minutes: range = range(0)
    ids: tuple[int | None, int | None] = (0, -1)  # the ids it covers whole (None: unbounded)
    notes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What one comparison found: its differences, the spans compared, what was counted,
    lines that explain what was left out, and REST's word on differing trade ids."""

    differences: list[Difference] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    verdicts: dict[int, str] = field(default_factory=dict)

    def count(self, what: str, n: int) -> None:
        self.compared[what] = self.compared.get(what, 0) + n


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC)


def _trade(document: dict[str, Any]) -> Trade:
    fields = stored_fields(document)
    return Trade(symbol=document["symbol"], trade_id=document["trade_id"],
                 price=fields["price"], qty=fields["qty"],
                 first_trade_id=fields["first_trade_id"], last_trade_id=fields["last_trade_id"],
                 time_ms=fields["time_ms"], is_buyer_maker=fields["is_buyer_maker"],
                 invalid=bool(document.get("invalid")))


async def stored_pages(
    store: TickStore, symbol: str, span: Span, from_id: int | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The stored trades of the span in pages, from ``from_id`` (None: its first)."""
    end = _at(span[1])
    cursor: TradeCursor | None = TradeCursor(from_id, _at(span[0]))
    while cursor is not None:
        page = await trade_page(store, symbol, cursor.start, end, cursor.from_id, PAGE)
        if page.trades:
            yield page.trades
        cursor = page.next


async def _is_stored(store: TickStore, symbol: str, trade_id: int) -> bool:
    return trade_id < 0 or bool(await store.by_ids(TRADES, [trade_key(symbol, trade_id)]))


async def read_recording(store: TickStore, symbol: str, span: Span) -> Recording:
    """Every stored trade of the span folded into candles, a page at a time."""
    recording = Recording()
    forming: CandleState | None = None
    closed_candles: list[CandleState] = []
    async for page in stored_pages(store, symbol, span):
        for document in page:
            trade_id, time_ms = document["trade_id"], stored_fields(document)["time_ms"]
            if recording.last is not None and trade_id > recording.last[0] + 1:
                recording.holes.append((recording.last[0] + 1, trade_id - 1))
            recording.first = recording.first or (trade_id, time_ms)
            recording.last = (trade_id, time_ms)
        recording.stored += len(page)
        forming, closed, _late = fold_trades(
            forming, [trade for trade in map(_trade, page) if not trade.invalid])
        closed_candles += closed
    for candle in [*closed_candles, *([forming] if forming else [])]:
        recording.candles[candle.start_ms] = candle_document(symbol, candle)
    if recording.first is None or recording.last is None:
        return recording
    starts_whole = await _is_stored(store, symbol, recording.first[0] - 1)
    ends_whole = await _is_stored(store, symbol, recording.last[0] + 1)
    recording.minutes = compared_minutes(*span, recording.first[1], recording.last[1],
                                         starts_whole, ends_whole)
    recording.ids = (None if starts_whole else recording.first[0],
                     None if ends_whole else recording.last[0])
    if not starts_whole:
        recording.notes.append(
            f"the recording begins inside the minute {format_ts(_at(recording.first[1]))} "
            f"(the id before its first trade, {recording.first[0] - 1}, is not stored): "
            "that minute is partial and, with any before it, not compared; nor are the ids "
            "before it")
    if not ends_whole:
        recording.notes.append(
            f"the recording ends inside the minute {format_ts(_at(recording.last[1]))} (the "
            f"id after its last trade, {recording.last[0] + 1}, is not stored): that minute "
            "is partial and, with any after it, not compared; nor are the ids after it")
    return recording


def against_minutes(
    recording: Recording, klines: Mapping[int, Fields], span: Span, outcome: Outcome,
) -> None:
    """The recording's whole minutes in ``span`` against ``klines`` (by open time)."""
    minutes = range(max(span[0], recording.minutes.start),
                    min(span[1], recording.minutes.stop), MINUTE_MS)
    outcome.differences += minute_differences(recording.candles, klines, minutes)
    outcome.count("minute(s)", len(minutes))
    if minutes:
        outcome.spans.append((minutes.start, minutes.stop))


async def rest_klines(binance: BinanceClient, symbol: str, minutes: range) -> dict[int, Fields]:
    """Binance's klines of ``minutes``, ``KLINES_MAX`` a request."""
    klines: dict[int, Fields] = {}
    for start in range(minutes.start, minutes.stop, KLINES_MAX * MINUTE_MS):
        end = min(start + KLINES_MAX * MINUTE_MS, minutes.stop)
        page = await retried(functools.partial(
            binance.fetch_klines, symbol, start, end - 1, KLINES_MAX), "verify")
        klines.update((kline.open_time, dataclasses.asdict(kline)) for kline in page)
    return klines


def archive_span(name: ArchiveName) -> Span:
    """[start_ms, end_ms) of the day or month an archive covers."""
    start = datetime(name.day.year, name.day.month, name.day.day, tzinfo=UTC)
    if name.period == "daily":
        end = start + timedelta(days=1)
    else:
        following = date(name.day.year + name.day.month // 12, name.day.month % 12 + 1, 1)
        end = datetime(following.year, following.month, 1, tzinfo=UTC)
    return to_ms(start), to_ms(end)


def trusted(path: Path, symbol: str) -> tuple[ArchiveName, str | None]:
    """The archive's name, once it is one of ``symbol`` and its CHECKSUM (if beside it)
    matches; and a note when there is no CHECKSUM to check. ``Unreadable`` otherwise."""
    if not path.is_file():
        raise Unreadable(f"{path}: no such file")
    try:
        name = ArchiveName.parse(path.name)
        if name.symbol != symbol:
            raise Unreadable(f"{path.name} is an archive of {name.symbol}, not of {symbol}")
        checked = verify_checksum(path)
    except (ArchiveError, OSError) as err:
        raise Unreadable(str(err)) from None
    if checked is False:
        raise Unreadable(f"{path.name}: its sha256 is not the one {path.name}.CHECKSUM gives: "
                         "the file is not the one Binance published")
    return name, None if checked else f"{path.name}: no CHECKSUM file beside it, not checked"


async def against_trade_archive(
    store: TickStore, symbol: str, path: Path, span: Span, recording: Recording,
    outcome: Outcome, sides: dict[int, tuple[Fields | None, Fields | None]],
) -> None:
    """The archive's aggregate trades of ``span`` against the stored ones, id by id:
    the file's ids a batch at a time (with every id between its batches), then the
    stored trades of the span before and after them. Ids before the recording began or
    after it ended (``Recording.ids``) are not compared. ``sides`` gets both sides of
    the first ``ARBITRATED`` differing ids, for REST's word."""
    first: int | None = None
    last: int | None = None
    compared = 0
    low, high = recording.ids
    for batch in read_agg_trades(path):
        rows = {row.agg_id: listed_fields(row.fields()) for row in batch
                if span[0] <= row.time_ms < span[1]
                and (low is None or row.agg_id >= low) and (high is None or row.agg_id <= high)}
        if not rows:
            continue
        ids = range(min(rows) if last is None else last + 1, max(rows) + 1)
        first = ids.start if first is None else first
        last = ids.stop - 1
        stored = await store.by_ids(TRADES, [trade_key(symbol, i) for i in ids])
        recorded = {doc["trade_id"]: stored_fields(doc) for doc in stored}
        _note(outcome, trade_differences(recorded, rows, ids), recorded, rows, sides)
        compared += len(set(recorded) | set(rows))
    outside: dict[int, Fields] = {}
    async for page in stored_pages(store, symbol, span):
        outside.update((doc["trade_id"], stored_fields(doc)) for doc in page
                       if first is None or doc["trade_id"] < first)
        if first is not None and page[-1]["trade_id"] >= first:
            break
    if last is not None:
        async for page in stored_pages(store, symbol, span, last + 1):
            outside.update((doc["trade_id"], stored_fields(doc)) for doc in page)
    _note(outcome, trade_differences(outside, {}, sorted(outside)), outside, {}, sides)
    outcome.count("id(s)", compared + len(outside))
    outcome.spans.append(span)


def _note(
    outcome: Outcome, found: list[Difference], recorded: Mapping[int, Fields],
    archived: Mapping[int, Fields], sides: dict[int, tuple[Fields | None, Fields | None]],
) -> None:
    outcome.differences += found
    for difference in found:
        if len(sides) < ARBITRATED:
            sides[difference.key] = (recorded.get(difference.key), archived.get(difference.key))


async def arbitrate(
    binance: BinanceClient, symbol: str,
    sides: dict[int, tuple[Fields | None, Fields | None]],
) -> dict[int, str]:
    """REST's word on each differing id: which side Binance's REST agrees with."""
    served: dict[int, Fields] = {}
    asked_to = -1
    verdicts: dict[int, str] = {}
    for trade_id in sorted(sides):
        if trade_id > asked_to:
            items = await retried(functools.partial(
                binance.fetch_agg_trades, symbol, trade_id, AGG_TRADES_MAX), "verify")
            try:
                served.update((int(item["a"]), listed_fields(item)) for item in items)
            except (KeyError, TypeError, ValueError) as err:
                raise Unreadable(f"Binance's REST listed an aggregate trade without "
                                 f"{err}: not a trade verify reads") from None
            asked_to = trade_id + AGG_TRADES_MAX - 1
        recorded, archived = sides[trade_id]
        rest = served.get(trade_id)
        verdicts[trade_id] = (ARCHIVE_DIFFERS if agrees(recorded, rest) else
                              RECORDING_DIFFERS if agrees(archived, rest) else ALL_DIFFER)
    return verdicts


async def hole_line(
    binance: BinanceClient, store: TickStore, symbol: str, hole: tuple[int, int],
) -> str:
    """What is known of a run of ids missing in the recording: whether Binance's REST
    serves them, and the unfilled gap the streams recorded for them."""
    first, last = hole
    listed = await retried(functools.partial(binance.fetch_agg_trades, symbol, first, 1),
                           "verify")
    served = bool(listed) and listed[0].get("a") == first
    gaps = await store.overlapping_gaps(GAPS, symbol, hole)
    reasons = "; ".join(dict.fromkeys(str(gap.get("reason")) for gap in gaps))
    if reasons:
        rest = ("; Binance's REST serves them now (backfill trades fills them)" if served
                else "; Binance's REST does not serve them either")
        return (f"ids {first}..{last} missing in the recording (recorded as an unfilled "
                f"gap: {reasons}){rest}")
    if served:
        return (f"ids {first}..{last} missing in the recording; Binance's REST serves them "
                "(a gap the recording did not fill)")
    return (f"ids {first}..{last} missing in the recording and at Binance's REST (no "
            "unfilled gap recorded for them)")


async def run_verify(
    binance: BinanceClient, store: TickStore, symbol: str, span: Span,
    archives: Sequence[Path], shown: int,
) -> tuple[Outcome, str]:
    """The comparison the options ask for, and the name of its source."""
    outcome = Outcome()
    recording: Recording | None = None

    async def recorded() -> Recording:
        nonlocal recording
        if recording is None:
            recording = await read_recording(store, symbol, span)
            outcome.notes += recording.notes
        return recording

    if not archives:
        whole = await recorded()
        against_minutes(whole, await rest_klines(binance, symbol, whole.minutes), span, outcome)
        source = "klines"
    else:
        sides: dict[int, tuple[Fields | None, Fields | None]] = {}
        named = [(path, *trusted(path, symbol)) for path in archives]
        for path, name, note in named:
            if note:
                outcome.notes.append(note)
            covered = archive_span(name)
            part = (max(span[0], covered[0]), min(span[1], covered[1]))
            if part[0] >= part[1]:
                outcome.notes.append(f"{path.name} covers none of the range")
            elif name.kind == "aggTrades":
                await against_trade_archive(store, symbol, path, part, await recorded(),
                                            outcome, sides)
            else:
                klines = {row.open_time_ms: _kline_fields(row) for batch in read_klines(path)
                          for row in batch}
                against_minutes(await recorded(), klines, part, outcome)
        outcome.verdicts = await arbitrate(binance, symbol, sides)
        source = "the archive"
    if recording is not None:
        for hole in recording.holes[:shown]:
            outcome.notes.append(await hole_line(binance, store, symbol, hole))
        if len(recording.holes) > shown:
            outcome.notes.append(f"and {len(recording.holes) - shown} more run(s) of ids "
                                 "missing in the recording")
        if not recording.stored:
            outcome.notes.append("no trade recorded in the range: nothing to compare")
    return outcome, source


def _kline_fields(row: Any) -> dict[str, Any]:
    """A klines archive row as ``MINUTE_FIELDS`` (floats, as a REST kline's)."""
    return {"open": float(row.open), "high": float(row.high), "low": float(row.low),
            "close": float(row.close), "volume": float(row.volume),
            "quote_volume": float(row.quote_volume), "trades": row.trades,
            "taker_buy_volume": float(row.taker_buy_volume),
            "taker_buy_quote_volume": float(row.taker_buy_quote_volume)}


def report(outcome: Outcome, source: str, shown: int) -> list[str]:
    """The lines printed: the first ``shown`` differences (each with REST's word where
    asked), how many more, and the notes."""
    lines = []
    for difference in outcome.differences[:shown]:
        line = difference.describe(source)
        verdict = outcome.verdicts.get(difference.key) if difference.kind == "trade" else None
        lines.append(f"{line} ({verdict})" if verdict else line)
    more = len(outcome.differences) - shown
    if more > 0:
        lines.append(f"and {more} more difference(s)")
    return lines + outcome.notes


async def write_ledger(
    store: TickStore, symbol: str, outcome: Outcome, against: str, now: datetime,
) -> int:
    """``verified`` on the ledger document of each hour compared; returns how many."""
    hours = per_hour(outcome.differences, hours_of(outcome.spans))
    await store.set_fields(COVERAGE, [{
        "_id": ledger_id(symbol, _at(hour)), "symbol": symbol, "hour": _at(hour),
        "verified": {"at": now, "against": against, "result": result(count),
                     "differences": count},
    } for hour, count in hours.items()])
    return len(hours)


@command(
    argument("symbol", callback=_symbol),
    option("--since", required=True, callback=_moment, help="first minute, e.g. 2026-12-07"),
    option("--until", callback=_moment, help="end (exclusive); default: the last closed minute"),
    option("--against", type=click.Choice(["klines"]), default=None,
           help="Binance's 1-minute klines (REST), the default without --archive"),
    option("--archive", "archives", multiple=True, type=click.Path(path_type=Path),
           help="a data.binance.vision zip of aggTrades or 1m klines (repeatable)"),
    option("--shown", type=click.IntRange(min=0), default=SHOWN, show_default=True,
           help="differences printed; the rest are counted"),
)
async def verify(
    target: Target, store: TickStore, symbol: str, since: datetime, until: datetime | None,
    against: str | None, archives: tuple[Path, ...], shown: int,
) -> None:
    """Compare SYMBOL's recorded trades with Binance's klines or archive files; exit 0
    when equal, 1 with differences, 2 when the source could not be read."""
    if against and archives:
        raise click.UsageError("--against klines and --archive are two sources: give one")
    end = until or datetime.now(UTC).replace(second=0, microsecond=0)
    if end <= since:
        raise SystemExit("--until must come after --since")
    binance = BinanceClient(target.binance_url, app.settings.http_timeout,
                            app.settings.rest_weight_budget)
    try:
        outcome, source = await run_verify(binance, store, symbol, (to_ms(since), to_ms(end)),
                                           archives, shown)
    except BinanceError as err:
        print(f"cryptoflow: verify of {symbol} could not read its source: Binance: {err.kind}: "
              f"{err} (after {ATTEMPTS} tries; is {target.binance_url} reachable?)",
              file=sys.stderr)
        raise SystemExit(2) from None
    except (Unreadable, ArchiveError) as err:
        print(f"cryptoflow: verify of {symbol} could not read its source: {err}",
              file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        await binance.close()
    for line in report(outcome, source, shown):
        print(line)
    hours = await write_ledger(store, symbol, outcome, "archive" if archives else "klines",
                               datetime.now(UTC))
    compared = ", ".join(f"{n} {what}" for what, n in outcome.compared.items()) or "nothing"
    verdict = result(len(outcome.differences))
    if verdict == "differs":
        verdict = f"{len(outcome.differences)} difference(s)"
    print(f"{symbol}: {verdict}: {compared} compared against {source} from {format_ts(since)} "
          f"to {format_ts(end)}; {hours} hour(s) of the ledger marked; {target.where()}")
    if outcome.differences or not outcome.spans:
        raise SystemExit(1)
