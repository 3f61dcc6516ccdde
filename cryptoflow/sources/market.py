"""Binance market streams: every aggregate trade and the top of book of the symbols this
worker owns, gap-free, onto the ``trades`` and ``book`` topics.

Which symbols: those whose partition (``symbol_partition``) this worker holds, so a
rebalance moves a symbol's stream with its tables; with one worker, all of them.
``MarketStreams.run`` checks the assignment every second and, when it changed, reopens
the connections (``StreamConnection``, at most 1024 streams and ``MAX_URL`` characters of
URL each) for the new set.

No gap, no duplicate: each symbol has a ``TradeSequence`` (the last id handed on). A
live trade that is the next id goes on; one at or below it is dropped as already
recorded (counted: ``cryptoflow_trades_dropped_total{reason="already_recorded"}``); one
beyond it is held while the ``GapFiller`` fetches the missing ids from REST, then the
held ones follow, in id order. After every (re)connect each symbol with a known last id
is filled the same way, so a reconnect, a stall or a rotation leaves nothing out. A
symbol newly owned resumes where the recording stands (``resume``: the last id the
trade agent counted, or the newest stored), so a handover between workers is filled
too. What REST cannot fill is recorded as an unfilled gap, and so is what lies past the
fill bound (``CRYPTOFLOW_GAP_FILL_MAX_IDS``).

A trade more than that bound away from the last id, in either direction, is not
believed at once (a corrupt frame, an exchange's bug, an attack): it waits aside
(``SuspectRun``) for the next trade. The old sequence going on makes it a dead letter
(``implausible``); the next id after it makes it a sequence reset, logged, counted and
shown by ``/api/streams/``: ahead, the gap is filled up to the bound; back, the trades
go to the dead letters, since their ids are recorded already. A held trade the
exchange's REST still has not heard of ``AHEAD_PATIENCE`` s after a fill first reached
it is set aside the same way, so a bogus id within the bound cannot capture the
sequence either.

Book tickers (hundreds a second for a busy symbol) are conflated: per symbol and
``book_interval``, one message with the latest top of book and the spread statistics
of every update it stands for. Frames that are not what Binance documents go to the
dead letters with their reason.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pymongo import DESCENDING

from cryptoflow import metrics
from cryptoflow.app import app
from cryptoflow.backoff import Backoff
from cryptoflow.broker.topics import (
    book_topic,
    owned_symbols,
    send_dead_letter,
    send_market_data,
    trades_topic,
)
from cryptoflow.exceptions import InvalidRecord
from cryptoflow.records import (
    BookTicker,
    Trade,
    agg_trade_wire,
    book_from_fields,
    load_json,
    trade_from_fields,
)
from cryptoflow.settings import Settings
from cryptoflow.sinks.mongo import GAPS, OUTAGES, TRADES
from cryptoflow.sources.binance import BinanceClient
from cryptoflow.sources.gapfill import GapFiller, RecordGap
from cryptoflow.sources.gaps import Gap, SuspectRun, TradeSequence, Verdict
from cryptoflow.sources.streams import ConnectionGate, StreamConnection, connection_groups
from cryptoflow.tables.market_tables import trade_states

log = logging.getLogger(__name__)

MAX_HELD = 50_000  # live trades held per symbol while a gap fills; past it, refilled later
QUEUE_SIZE = 20_000  # records waiting for Kafka; a full queue slows the readers down
SEND_BATCH = 2_000
CHECK_INTERVAL = 1.0
STREAM_NAMES = {"trades": "aggTrade", "book": "bookTicker"}
RESETS_SHOWN = 20  # the latest sequence resets /api/streams/ lists
OUTAGES_QUEUED = 1000  # outage records waiting for the database; beyond, logged only
AHEAD_PATIENCE = 3.0  # seconds REST may lack a trade the stream sent (it lags a moment)
AHEAD_RETRY = 0.5  # seconds between asking REST again meanwhile

Pending = tuple[Trade, dict[str, Any]]  # a live trade and its fields as the stream sent them

Send = Callable[[str, list[tuple[str, bytes]]], Awaitable[None]]  # (kind, [(symbol, wire)])
DeadLetter = Callable[[bytes, str, str], Awaitable[None]]  # (value, reason, origin)
Resume = Callable[[str], Awaitable[int | None]]
RecordOutage = Callable[[dict[str, Any]], Awaitable[None]]  # an ``outages`` document


class SymbolFeed:
    """One symbol's trade sequence, the live trades held during a fill (in id order),
    those kept aside as implausible, and the book updates since the last conflated
    message."""

    def __init__(self, symbol: str, last_id: int | None, max_jump: int) -> None:
        self.symbol = symbol
        self.sequence = TradeSequence(symbol, last_id, max_jump)
        self.held: deque[Pending] = deque()
        self.suspects: SuspectRun[Pending] = SuspectRun()
        self.went_back_to: int | None = None  # the last id of a stream that went back
        self.ahead_since: dict[int, float] = {}  # held ids REST had not heard of, since when
        self.filling: asyncio.Task[None] | None = None
        self.book: BookTicker | None = None
        self.book_updates = 0
        self.spread_sum = 0.0
        self.spread_max = 0.0

    def hold(self, trade: Trade, fields: dict[str, Any]) -> None:
        """Keep a live trade for after the fill, in id order (the stream's order but for
        a trade set aside and believed later); past MAX_HELD it is not kept (its id is
        then a gap among the held ones, filled from REST)."""
        if len(self.held) >= MAX_HELD:
            return
        if self.held and trade.trade_id < self.held[-1][0].trade_id:
            bisect.insort(self.held, (trade, fields), key=lambda pending: pending[0].trade_id)
        else:
            self.held.append((trade, fields))

    def first_held(self) -> int | None:
        return self.held[0][0].trade_id if self.held else None

    def note_book(self, book: BookTicker) -> None:
        if self.book is not None and book.update_id <= self.book.update_id:
            return  # an older or repeated update
        spread = book.spread_bps
        self.book = book
        self.book_updates += 1
        self.spread_sum += spread
        self.spread_max = max(self.spread_max, spread)

    def take_book(self) -> BookTicker | None:
        """The conflated message for the updates since the last one (None: no update)."""
        if self.book is None or not self.book_updates:
            return None
        book = self.book
        conflated = BookTicker(
            symbol=book.symbol, update_id=book.update_id, bid=book.bid, bid_qty=book.bid_qty,
            ask=book.ask, ask_qty=book.ask_qty, received_ms=book.received_ms,
            updates=self.book_updates, spread_bps_sum=self.spread_sum,
            spread_bps_max=self.spread_max,
        )
        self.book_updates, self.spread_sum, self.spread_max = 0, 0.0, 0.0
        return conflated


class MarketStreams:
    """The worker's streams; ``run()`` for the worker's life."""

    def __init__(
        self, settings: Settings, client: BinanceClient, *, send: Send,
        dead_letter: DeadLetter, record_gap: RecordGap, resume: Resume,
        owned: Callable[[], Collection[str] | None],
        record_outage: RecordOutage | None = None,
    ) -> None:
        self.settings = settings
        # stream names of the kinds asked for, as Binance spells them (``btcusdt@aggTrade``)
        self.stream_kinds = tuple(STREAM_NAMES[kind] for kind in settings.streams)
        self.send = send
        self.dead_letter = dead_letter
        self.resume = resume
        self.owned = owned
        self.filler = GapFiller(client, record_gap, timeout=settings.gap_fill_timeout)
        self.max_jump = settings.gap_fill_max_ids
        self.gate = ConnectionGate()
        self.feeds: dict[str, SymbolFeed] = {}
        self.connections: list[StreamConnection] = []
        self.dropped: Counter[str] = Counter()  # live trades not handed on, by why
        self.resets: deque[dict[str, Any]] = deque(maxlen=RESETS_SHOWN)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue(QUEUE_SIZE)
        self.record_outage = record_outage
        self._outages: asyncio.Queue[dict[str, Any]] = asyncio.Queue(OUTAGES_QUEUED)
        self._frames = 0

    # -- the worker's loop ------------------------------------------------------------

    async def run(self) -> None:
        sender = asyncio.ensure_future(self._send_queued())
        books = asyncio.ensure_future(self._flush_books())
        outages = asyncio.ensure_future(self._write_outages())
        async with aiohttp.ClientSession() as session:
            try:
                current: frozenset[str] | None = None
                while True:
                    owned = self.owned()
                    if owned is not None and frozenset(owned) != current:
                        current = frozenset(owned)
                        await self._reconfigure(current, session)
                    self._restart_ended(session)
                    await asyncio.sleep(CHECK_INTERVAL)
            finally:
                await self._close_all()
                for task in (sender, books, outages):
                    task.cancel()

    async def _reconfigure(self, symbols: frozenset[str], session: aiohttp.ClientSession) -> None:
        """Reopen the connections for ``symbols``; a symbol kept keeps its sequence, a new
        one resumes where the recording stands."""
        await self._close_all()
        for symbol in set(self.feeds) - symbols:
            del self.feeds[symbol]
        for symbol in sorted(symbols - set(self.feeds)):
            self.feeds[symbol] = SymbolFeed(symbol, await self.resume(symbol), self.max_jump)
        log.info("Binance streams: %d symbol(s) on this worker: %s", len(symbols),
                 ",".join(sorted(symbols)) or "none")
        streams = [f"{symbol.lower()}@{kind}" for symbol in sorted(symbols)
                   for kind in self.stream_kinds]
        url, per = self.settings.binance_ws_url, self.settings.streams_per_connection
        for number, part in enumerate(connection_groups(url, streams, per), start=1):
            names = {stream.split("@", 1)[0].upper() for stream in part}
            connection = StreamConnection(
                f"binance-{number}", url, part,
                on_frame=self._on_frame, on_connect=functools.partial(self._on_connect, names),
                gate=self.gate, backoff=Backoff(base=0.5, cap=30.0),
                silence=self.settings.stream_silence, max_age=self.settings.stream_max_age,
                on_outage=self._note_outage,
            )
            self.connections.append(connection)
            self._tasks.append(asyncio.ensure_future(connection.run(session)))

    def _restart_ended(self, session: aiohttp.ClientSession) -> None:
        """A connection's task only ends when it is stopped: one that ended otherwise is
        reported and started again."""
        for number, task in enumerate(self._tasks):
            if task.done():
                connection = self.connections[number]
                error = None if task.cancelled() else task.exception()
                log.error("Binance stream %s: its task ended (%r); starting it again",
                          connection.name, error)
                metrics.STREAM_FAILURES.inc()
                self._tasks[number] = asyncio.ensure_future(connection.run(session))

    async def _close_all(self) -> None:
        for connection in self.connections:
            await connection.stop()
        for feed in self.feeds.values():
            if feed.filling is not None:
                feed.filling.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connections, self._tasks = [], []

    def status(self) -> dict[str, Any]:
        """This worker's connections and the symbols being filled right now."""
        now = time.monotonic()
        return {
            "connections": [{**connection.status(now), "running": not task.done()}
                            for connection, task in zip(self.connections, self._tasks,
                                                        strict=True)],
            "symbols": len(self.feeds),
            "filling": sorted(s for s, feed in self.feeds.items() if feed.filling is not None),
            "dropped": {reason: self.dropped[reason]
                        for reason in ("already_recorded", "implausible")},
            "sequence_resets": list(self.resets),
        }

    # -- frames ---------------------------------------------------------------------

    async def _on_connect(self, symbols: Collection[str]) -> None:
        """Fill what the pause missed, for every symbol whose last id is known."""
        for symbol in symbols:
            feed = self.feeds.get(symbol)
            if feed is not None and feed.filling is None and feed.sequence.last_id is not None:
                self._start_fill(feed, feed.sequence.last_id + 1)

    async def _on_frame(self, text: str) -> None:
        self._frames += 1
        try:
            await self._route(text)
        except InvalidRecord as err:
            origin = f"binance-ws/{int(time.time() * 1000)}/{self._frames}"
            await self.dead_letter(text.encode(), err.reason, origin)

    async def _route(self, text: str) -> None:
        try:
            message = load_json(text)
        except InvalidRecord as err:
            raise InvalidRecord(f"stream frame is {err.reason}") from None
        if (not isinstance(message, dict) or not isinstance(message.get("stream"), str)
                or not isinstance(message.get("data"), dict)):
            raise InvalidRecord("stream frame is not {\"stream\": ..., \"data\": {...}}")
        name, _, kind = message["stream"].partition("@")
        data: dict[str, Any] = message["data"]
        feed = self.feeds.get(name.upper())
        if feed is None or kind not in self.stream_kinds:
            raise InvalidRecord(f"a stream this worker did not ask for: {message['stream']:.60}")
        if data.get("s") != feed.symbol:
            raise InvalidRecord(f"stream {message['stream']:.60} carries symbol "
                                f"{data.get('s')!r:.40}")
        if kind == "aggTrade":
            await self._live_trade(feed, trade_from_fields(data, feed.symbol, datetime.now(UTC)),
                                   data)
        else:
            feed.note_book(book_from_fields(data, feed.symbol, int(time.time() * 1000)))

    async def _live_trade(self, feed: SymbolFeed, trade: Trade, fields: dict[str, Any]) -> None:
        trade_id = trade.trade_id
        last_suspect = feed.suspects.last_id
        if last_suspect is not None and trade_id == last_suspect + 1:
            feed.suspects.add(trade_id, (trade, fields))
            await self._confirmed(feed)
            return
        if feed.held and trade_id == feed.held[-1][0].trade_id + 1:
            feed.hold(trade, fields)  # the stream goes on from what waits for the fill
            return
        verdict = feed.sequence.classify(trade_id)
        if verdict is Verdict.FAR:
            if feed.went_back_to is not None and trade_id == feed.went_back_to + 1:
                feed.went_back_to = trade_id
                await self._dead_letter_trades(feed, [(trade, fields)], _went_back(feed))
            else:
                await self._discard(feed, feed.suspects.add(trade_id, (trade, fields)))
            return
        await self._discard(feed, feed.suspects.take())
        feed.went_back_to = None
        if verdict is Verdict.DUPLICATE:
            self._already_recorded(feed, 1)
        elif feed.filling is not None:
            feed.hold(trade, fields)
        elif verdict is Verdict.NEXT:
            await self._emit(feed, trade, fields, "stream")
        else:
            gap = feed.sequence.gap_before(trade_id)
            log.info("Binance stream: %s: ids %d..%d missing; filling from REST",
                     feed.symbol, gap.first_id, gap.last_id)
            feed.hold(trade, fields)
            self._start_fill(feed, gap.first_id)

    async def _confirmed(self, feed: SymbolFeed) -> None:
        """The next trade continued the run kept aside: the exchange's ids are there."""
        run = feed.suspects.take()
        first, last = run[0][0].trade_id, feed.sequence.last_id
        if last is not None and first <= last:
            if last - first <= self.max_jump:  # covered meanwhile (REST lagged)
                self._already_recorded(feed, len(run))
                return
            self._reset(feed, "back", last, first)
            feed.went_back_to = run[-1][0].trade_id
            await self._dead_letter_trades(feed, run, _went_back(feed))
            return
        if last is not None and first - last > self.max_jump:
            self._reset(feed, "ahead", last, first)
        for trade, fields in run:
            feed.hold(trade, fields)
        if feed.filling is None and last is not None:
            self._start_fill(feed, last + 1)
        elif feed.filling is None:
            await self._hand_on_held(feed)

    async def _discard(self, feed: SymbolFeed, run: list[Pending]) -> None:
        """A run kept aside that the next trade did not continue: what the sequence has
        covered since was recorded; the rest is implausible, a dead letter."""
        last = feed.sequence.last_id
        bogus = [pending for pending in run if last is None
                 or not 0 <= last - pending[0].trade_id <= self.max_jump]
        self._already_recorded(feed, len(run) - len(bogus))
        if bogus:
            ids = [trade.trade_id for trade, _ in bogus]
            log.warning("Binance stream: %s: trade id(s) %s set aside as implausible: more "
                        "than %d ids from the last recorded id %s, and the next trade did "
                        "not follow them", feed.symbol, ",".join(map(str, ids[:5])),
                        self.max_jump, last)
            self.dropped["implausible"] += len(bogus)
            metrics.TRADES_DROPPED.labels("implausible").inc(len(bogus))
            await self._dead_letter_trades(feed, bogus, (
                f"implausible trade id: more than CRYPTOFLOW_GAP_FILL_MAX_IDS ({self.max_jump}) "
                f"from the last recorded id {last}, and the next trade did not follow it"))

    def _already_recorded(self, feed: SymbolFeed, count: int) -> None:
        if count:
            log.debug("Binance stream: %s: %d trade(s) dropped, handed on before",
                      feed.symbol, count)
            self.dropped["already_recorded"] += count
            metrics.TRADES_DROPPED.labels("already_recorded").inc(count)

    def _reset(self, feed: SymbolFeed, direction: str, last: int, first: int) -> None:
        log.error("Binance stream: %s: the trade ids moved %s, from %d to %d (%+d), and "
                  "stayed there: a sequence reset", feed.symbol, direction, last, first,
                  first - last)
        metrics.SEQUENCE_RESETS.labels(direction).inc()
        self.resets.append({"symbol": feed.symbol, "direction": direction, "from_id": last,
                            "to_id": first, "at": datetime.now(UTC).isoformat()})

    async def _dead_letter_trades(self, feed: SymbolFeed, run: list[Pending], reason: str) -> None:
        for trade, fields in run:
            await self.dead_letter(agg_trade_wire(fields, feed.symbol), reason,
                                   f"binance-ws/{feed.symbol}/{trade.trade_id}")

    # -- gaps -----------------------------------------------------------------------

    def _start_fill(self, feed: SymbolFeed, from_id: int) -> None:
        feed.filling = asyncio.ensure_future(self._fill(feed, from_id))

    async def _fill(self, feed: SymbolFeed, from_id: int) -> None:
        """Fill from ``from_id``, then hand on the held live trades in order; a gap among
        them is filled the same way. Live trades arriving meanwhile are held too."""
        next_from: int | None = from_id
        try:
            while next_from is not None:
                end = await self.filler.fill(
                    feed.symbol, next_from, feed.first_held,
                    lambda trade, fields: self._emit(feed, trade, fields, "rest"),
                    self.max_jump)
                if end.ahead:
                    await self._ahead_of_exchange(feed, end.next_id)
                elif (last := feed.sequence.last_id) is not None and end.next_id > last + 1:
                    # recorded as unfilled: the stream goes on after it, not back into it
                    feed.sequence.advance(end.next_id - 1)
                next_from = await self._hand_on_held(feed)
        finally:
            feed.filling = None

    async def _hand_on_held(self, feed: SymbolFeed) -> int | None:
        """Hand on the held trades that follow the sequence; returns the first id of a
        gap before the next one (None: all handed on)."""
        while feed.held:
            trade, fields = feed.held[0]
            last = feed.sequence.last_id
            if last is not None and trade.trade_id > last + 1:
                return last + 1
            feed.held.popleft()
            feed.ahead_since.pop(trade.trade_id, None)
            if last is not None and trade.trade_id <= last:
                self._already_recorded(feed, 1)
            else:
                await self._emit(feed, trade, fields, "stream")
        return None

    async def _ahead_of_exchange(self, feed: SymbolFeed, next_id: int) -> None:
        """REST has nothing from ``next_id`` on, yet the stream sent a later trade: asked
        again a little later, and after ``AHEAD_PATIENCE`` s that trade waits aside for
        the next trade to confirm it, while the other held ones go on."""
        trade, fields = feed.held[0]
        now = time.monotonic()
        if now - feed.ahead_since.setdefault(trade.trade_id, now) <= AHEAD_PATIENCE:
            await asyncio.sleep(AHEAD_RETRY)
            return
        feed.held.popleft()
        del feed.ahead_since[trade.trade_id]
        log.warning("Binance stream: %s: the exchange has no trade from id %d on, although "
                    "the stream sent id %d; kept aside until the next trade follows it",
                    feed.symbol, next_id, trade.trade_id)
        await self._discard(feed, feed.suspects.add(trade.trade_id, (trade, fields)))

    # -- outages --------------------------------------------------------------------

    def _note_outage(
        self, connection: StreamConnection, start: datetime, end: datetime | None,
    ) -> None:
        """An outage began (``end`` None) or ended: written in the background, so a slow
        database never holds a stream back."""
        symbols = connection.symbols
        document = {"_id": f"{symbols[0]}..{symbols[-1]}@{start.isoformat()}",
                    "connection": connection.name, "symbols": symbols, "start": start,
                    "end": end, "reason": connection.last_error}
        try:
            self._outages.put_nowait(document)
        except asyncio.QueueFull:
            log.warning("Binance streams: %d outage records wait for the database; this "
                        "one is not recorded: %s", OUTAGES_QUEUED, document)

    async def _write_outages(self) -> None:
        while True:
            document = await self._outages.get()
            if self.record_outage is not None:
                await self.record_outage(document)

    # -- out to Kafka ---------------------------------------------------------------

    async def _emit(
        self, feed: SymbolFeed, trade: Trade, fields: dict[str, Any], source: str,
    ) -> None:
        feed.sequence.advance(trade.trade_id)
        await self._queue.put(("trades", feed.symbol, agg_trade_wire(
            fields, feed.symbol, filled=source == "rest")))
        metrics.TRADES_RECEIVED.labels(source).inc()

    async def _send_queued(self) -> None:
        """One sender, so each symbol's records reach Kafka in the order they were queued."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < SEND_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            by_kind: dict[str, list[tuple[str, bytes]]] = {}
            for kind, symbol, value in batch:
                by_kind.setdefault(kind, []).append((symbol, value))
            for kind, records in by_kind.items():
                await self.send(kind, records)

    async def _flush_books(self) -> None:
        while True:
            await asyncio.sleep(self.settings.book_interval)
            for feed in list(self.feeds.values()):
                book = feed.take_book()
                if book is not None:
                    await self._queue.put(("book", feed.symbol, book.to_wire()))


def _went_back(feed: SymbolFeed) -> str:
    return (f"trade ids went back far below the recorded ones (last {feed.sequence.last_id}): "
            "ids recorded already cannot be stored again")


# -- this worker's instance -------------------------------------------------------------

async def send(kind: str, records: list[tuple[str, bytes]]) -> None:
    await send_market_data(trades_topic if kind == "trades" else book_topic, records)


async def dead_letter(value: bytes, reason: str, origin: str) -> None:
    await send_dead_letter(value, reason, origin)


async def record_gap(gap: Gap, reason: str) -> None:
    """Log, count and store an unfilled gap (``gaps``: ``/api/streams/`` lists them)."""
    log.error("Binance stream: %s: trade ids %d..%d (%d) cannot be filled: %s",
              gap.symbol, gap.first_id, gap.last_id, gap.size, reason)
    metrics.TRADE_GAPS.labels("unfilled").inc()
    metrics.TRADES_UNFILLED.inc(gap.size)
    # /api/streams/ lists the newest gaps from this index (gaps are rare: it costs little)
    await app.store.ensure_index(GAPS, [("recorded_at", DESCENDING)], "recorded_at")
    await app.store.upsert(GAPS, [{
        "_id": f"{gap.symbol}:{gap.first_id}-{gap.last_id}", "symbol": gap.symbol,
        "first_id": gap.first_id, "last_id": gap.last_id, "size": gap.size, "reason": reason,
        "recorded_at": datetime.now(UTC),
    }])


async def record_outage(document: dict[str, Any]) -> None:
    """Store when a stream connection was down (the coverage ledger shows it)."""
    await app.store.upsert(OUTAGES, [document])


async def resume(symbol: str) -> int | None:
    """Where the recording of ``symbol`` stands: the last trade id its trade state counted
    (local: this worker holds the symbol's partition; a table still recovering answers
    lower, which only means duplicates), else the newest stored trade id (a read that
    scans on the local database, so only when the table has nothing)."""
    state = trade_states.get(symbol)
    if state is not None:
        return int(state.last_trade_id)
    return await app.store.last_trade_id(TRADES, symbol)


market_streams = MarketStreams(
    app.settings, app.binance, send=send, dead_letter=dead_letter, record_gap=record_gap,
    resume=resume, owned=owned_symbols, record_outage=record_outage,
)

if app.settings.streams:
    app.task(market_streams.run)
