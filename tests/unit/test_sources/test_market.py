"""MarketStreams against the simulated exchange (real sockets, in-process; no Kafka):
what it hands on is every aggregate trade once, in id order, whatever the stream does."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise

import pytest
import pytest_asyncio

from cryptoflow import metrics
from cryptoflow.devstack.simexchange import Fault, SimExchange, StreamFault
from cryptoflow.records import parse_book
from cryptoflow.settings import Settings
from cryptoflow.sources.binance import AGG_TRADES_PATH, BinanceClient
from cryptoflow.sources.gaps import Gap
from cryptoflow.sources.market import MarketStreams
from cryptoflow.sources.streams import MAX_FRAME_BYTES

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


@dataclass
class Recorded:
    """What MarketStreams handed on, set aside, and reported."""

    trades: list[tuple[str, bytes]] = field(default_factory=list)
    books: list[tuple[str, bytes]] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    gaps: list[tuple[Gap, str]] = field(default_factory=list)

    async def send(self, kind: str, records: list[tuple[str, bytes]]) -> None:
        (self.trades if kind == "trades" else self.books).extend(records)

    async def dead_letter(self, value: bytes, reason: str, origin: str) -> None:
        self.dead.append(reason)

    async def record_gap(self, gap: Gap, reason: str) -> None:
        self.gaps.append((gap, reason))

    def ids(self, symbol: str) -> list[int]:
        return [json.loads(value)["a"] for name, value in self.trades if name == symbol]


@pytest_asyncio.fixture
async def market() -> AsyncIterator[SimExchange]:
    sim = SimExchange(seed=5, trade_rate=60.0, book_rate=30.0, trade_retention=400)
    await sim.start()
    yield sim
    await sim.stop()


@pytest_asyncio.fixture
async def streaming(market: SimExchange) -> AsyncIterator[Callable[..., MarketStreams]]:
    """Start MarketStreams on the exchange; returns it (and its record as ``.recorded``)."""
    tasks: list[asyncio.Task[None]] = []
    clients: list[BinanceClient] = []

    def start(resume: dict[str, int] | None = None, **env: str) -> MarketStreams:
        settings = Settings.from_env({
            "CRYPTOFLOW_BINANCE_WS_URL": market.ws_url, "CRYPTOFLOW_STREAM_SILENCE": "1.5",
            # a loaded machine answers slowly: fills give up only after 30 s of failures
            "CRYPTOFLOW_BOOK_INTERVAL": "0.3", "CRYPTOFLOW_GAP_FILL_TIMEOUT": "30", **env,
        }, env_file=None)
        recorded = Recorded()
        client = BinanceClient(market.url, 5.0)
        clients.append(client)

        async def resume_at(symbol: str) -> int | None:
            return (resume or {}).get(symbol)

        streams = MarketStreams(
            settings, client, send=recorded.send, dead_letter=recorded.dead_letter,
            record_gap=recorded.record_gap, resume=resume_at, owned=lambda: SYMBOLS)
        streams.recorded = recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
        tasks.append(asyncio.ensure_future(streams.run()))
        return streams

    yield start
    for task in tasks:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    for client in clients:
        await client.close()


@asynccontextmanager
async def streaming_from(
    sim: SimExchange, owned: tuple[str, ...], env: dict[str, str],
    resume: Callable[[SimExchange, str], int | None] = lambda sim, symbol: None,
) -> AsyncIterator[tuple[MarketStreams, Recorded]]:
    """Start ``sim`` and MarketStreams for ``owned`` on it (``resume``: where the
    recording of a symbol stands, nothing recorded by default); stops both after the
    block."""
    await sim.start()
    client = BinanceClient(sim.url, 2.0)
    recorded = Recorded()

    async def nothing_recorded(symbol: str) -> int | None:
        return resume(sim, symbol)

    settings = Settings.from_env({"CRYPTOFLOW_BINANCE_WS_URL": sim.ws_url, **env}, env_file=None)
    streams = MarketStreams(
        settings, client, send=recorded.send, dead_letter=recorded.dead_letter,
        record_gap=recorded.record_gap, resume=nothing_recorded, owned=lambda: owned)
    task = asyncio.ensure_future(streams.run())
    try:
        yield streams, recorded
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()
        await sim.stop()


def assert_every_trade_once(market: SimExchange, recorded: Recorded) -> None:
    assert any(recorded.ids(symbol) for symbol in SYMBOLS)
    for symbol in SYMBOLS:
        ids = recorded.ids(symbol)
        if not ids:  # a quiet symbol: the exchange made no trade since the start
            continue
        assert ids == list(range(ids[0], ids[-1] + 1)), f"{symbol}: a gap or a repeat"
        assert ids[-1] in [trade["a"] for trade in market.agg_trades(symbol)]


def newest(market: SimExchange, symbol: str) -> int | None:
    trades = market.agg_trades(symbol)
    return trades[-1]["a"] if trades else None


async def settle(market: SimExchange, recorded: Recorded, seconds: float = 20.0) -> None:
    """Wait until every symbol's newest generated trade was handed on."""
    for _ in range(int(seconds / 0.1)):
        wanted = {s: newest(market, s) for s in SYMBOLS}
        if all(w is None or (recorded.ids(s) and recorded.ids(s)[-1] >= w)
               for s, w in wanted.items()):
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"not caught up: {[(s, recorded.ids(s)[-1:], newest(market, s)) for s in SYMBOLS]}")


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", [
    StreamFault.drop_connection(),
    StreamFault.skip_trades("SOLUSDT", 9),
    StreamFault.stall(2.5),
    StreamFault.shutdown(),
], ids=["dropped", "skipped", "stall", "shutdown"])
async def test_after_a_fault_every_trade_is_handed_on_once_in_order(
    market: SimExchange, streaming: Callable[..., MarketStreams], fault: StreamFault,
) -> None:
    streams = streaming()
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await asyncio.sleep(1.5)
    market.inject_stream(fault)
    await asyncio.sleep(3.5)
    await settle(market, recorded)
    assert_every_trade_once(market, recorded)
    assert not recorded.gaps and not recorded.dead


@pytest.mark.asyncio
async def test_a_resumed_symbol_is_filled_from_where_the_recording_stands(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    await asyncio.sleep(2.0)  # a history to resume into
    resume = {s: trades[len(trades) // 2]["a"] for s in SYMBOLS
              if len(trades := market.agg_trades(s)) > 2}
    streams = streaming(resume=resume)
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await settle(market, recorded)
    assert resume
    for symbol, resumed_at in resume.items():
        assert recorded.ids(symbol)[0] == resumed_at + 1
    assert_every_trade_once(market, recorded)


@pytest.mark.asyncio
async def test_what_the_exchange_no_longer_has_is_an_unfilled_gap(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    await asyncio.sleep(1.0)
    oldest = market.agg_trades("BTCUSDT")[0]["a"]  # the busiest symbol of this seed
    streams = streaming(resume={"BTCUSDT": oldest - 51})  # 50 ids it never kept
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await settle(market, recorded)
    ((gap, reason),) = recorded.gaps
    assert (gap.symbol, gap.first_id, gap.size) == ("BTCUSDT", oldest - 50, 50)
    assert "no longer has" in reason
    assert recorded.ids("BTCUSDT")[0] == oldest


@pytest.mark.asyncio
async def test_a_gap_the_exchange_keeps_failing_to_fill_is_recorded_after_the_timeout(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming(CRYPTOFLOW_GAP_FILL_TIMEOUT="1")
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await asyncio.sleep(1.5)
    market.inject(*[Fault.status(503).at(AGG_TRADES_PATH)] * 1000)
    market.inject_stream(StreamFault.skip_trades("BTCUSDT", 6))
    for _ in range(100):
        await asyncio.sleep(0.1)
        if recorded.gaps:
            break
    ((gap, reason),) = recorded.gaps
    assert (gap.symbol, gap.size) == ("BTCUSDT", 6)
    assert "longer than the fill timeout" in reason and "server_error" in reason
    market.clear_faults()
    await settle(market, recorded)
    ids = recorded.ids("BTCUSDT")
    assert [b - a for a, b in pairwise(ids) if b - a != 1] == [7]  # the 6 missing, once


@pytest.mark.asyncio
async def test_a_connection_is_rotated_before_its_age_limit_without_a_gap(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming(CRYPTOFLOW_STREAM_MAX_AGE="1.5")
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await asyncio.sleep(4.0)
    await settle(market, recorded)
    assert len(market.connections) >= 3
    assert streams.connections[0].reconnects >= 2
    assert_every_trade_once(market, recorded)


@pytest.mark.asyncio
async def test_book_updates_are_conflated_with_their_spread_statistics(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming(CRYPTOFLOW_STREAMS="book")
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await asyncio.sleep(2.0)
    assert not recorded.trades
    books = [parse_book(value, SYMBOLS, datetime.now(UTC)) for _, value in recorded.books]
    assert books
    for book in books:
        assert book.bid < book.ask
        assert book.updates >= 1
        assert 0 < book.spread_bps_max <= book.spread_bps_sum + 1e-12
        assert book.spread_bps_sum / book.updates <= book.spread_bps_max + 1e-12
    # ~30 updates a second per symbol, one message per symbol and 0.3 s
    assert sum(book.updates for book in books) > len(books)


@pytest.mark.asyncio
async def test_frames_that_are_not_market_data_are_dead_letters(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming()
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await asyncio.sleep(1.0)
    market.inject_stream(StreamFault.malformed(4))
    await asyncio.sleep(1.5)
    assert len(recorded.dead) == 4
    await settle(market, recorded)
    assert_every_trade_once(market, recorded)


@pytest.mark.asyncio
async def test_three_hundred_symbols_stream_over_several_connections() -> None:
    symbols = tuple(f"S{n:03d}USDT" for n in range(300))
    sim = SimExchange(symbols, seed=9, trade_rate=1.0, book_rate=1.0)
    env = {"CRYPTOFLOW_STREAMS_PER_CONNECTION": "250"}
    async with streaming_from(sim, symbols, env) as (streams, recorded):
        for _ in range(100):
            await asyncio.sleep(0.1)
            if len({name for name, _ in recorded.trades}) > 250:
                break
        assert [len(c.streams) for c in streams.connections] == [250, 250, 100]
        assert len(sim.connections) == 3
        assert {c.state for c in streams.connections} == {"connected"}
        assert len({name for name, _ in recorded.trades}) > 250  # trades of most symbols
        assert not recorded.dead and not recorded.gaps


@pytest.mark.asyncio
async def test_300_symbols_of_trades_and_book_tickers_all_stream() -> None:
    """600 streams are too long a URL for one connection (the exchange refuses it)."""
    names = tuple(f"S{i:03d}USDT" for i in range(300))
    sim = SimExchange(names, seed=3, trade_rate=0.5, book_rate=5.0)
    env = {"CRYPTOFLOW_BOOK_INTERVAL": "0.3"}
    async with streaming_from(sim, names, env) as (streams, recorded):
        for _ in range(200):
            if {symbol for symbol, _ in recorded.books} == set(names):
                break
            await asyncio.sleep(0.1)
        assert {symbol for symbol, _ in recorded.books} == set(names)
        assert len(streams.connections) == 2
        assert all(record.closed_at is None for record in sim.connections)


@pytest.mark.asyncio
async def test_the_exchange_pings_and_the_connection_stays_open() -> None:
    """The client answers every ping; the exchange takes the pongs (aiohttp hands their
    payload over as a bytearray) and keeps the connection."""
    sim = SimExchange(seed=4, trade_rate=5.0, ping_interval=0.3, pong_timeout=2.0)
    async with streaming_from(sim, SYMBOLS, {}):
        for _ in range(100):
            if any(record.pongs >= 3 for record in sim.connections):
                break
            await asyncio.sleep(0.1)
        (connection,) = sim.connections
        assert connection.pongs >= 3
        assert connection.closed_at is None


# -- a hostile exchange: frames no honest exchange sends ----------------------------------

def agg_trade_frame(symbol: str, trade_id: int, **changes: object) -> bytes:
    now_ms = int(time.time() * 1000)
    data = {"e": "aggTrade", "E": now_ms, "s": symbol, "a": trade_id, "p": "67000.00",
            "q": "0.5", "f": trade_id, "l": trade_id, "T": now_ms, "m": False, "M": True,
            **changes}
    return json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": data}).encode()


async def attacked(
    market: SimExchange, streams: MarketStreams, *frames: bytes, wait: float = 2.0,
) -> Recorded:
    """Send ``frames`` on the open connection once trades flow; then every trade the
    exchange made is still handed on once, in order."""
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await settle(market, recorded)
    market.inject_stream(StreamFault.frames_of(*frames))
    await asyncio.sleep(wait)
    await settle(market, recorded)
    assert_every_trade_once(market, recorded)
    return recorded


@pytest.mark.asyncio
async def test_a_frame_nested_too_deeply_is_a_dead_letter_and_the_stream_goes_on(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming()
    recorded = await attacked(market, streams, b"[" * 100_000 + b"]" * 100_000, b"[" * 1000)
    assert recorded.dead == ["stream frame is not JSON we read: nested too deeply"] * 2
    assert streams.connections[0].reconnects == 0
    assert streams.status()["connections"][0]["running"]


@pytest.mark.asyncio
async def test_a_frame_over_the_limit_ends_the_connection_with_its_size_and_the_gap_fills(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming()
    await attacked(market, streams, b"x" * (MAX_FRAME_BYTES + 10))
    connection = streams.connections[0]
    assert connection.reconnects == 1
    assert connection.last_error is not None
    assert connection.last_error.startswith("frame too large, refused unread")
    assert f"exceeds limit {MAX_FRAME_BYTES}" in connection.last_error


@pytest.mark.asyncio
async def test_integers_over_64_bits_are_dead_letters(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming()
    next_id = (newest(market, "BTCUSDT") or 0) + 1
    recorded = await attacked(market, streams, agg_trade_frame("BTCUSDT", next_id, f=10**30),
                              agg_trade_frame("BTCUSDT", next_id, T=2**64))
    assert [reason.split(" must")[0] for reason in recorded.dead] == ["'f'", "'T'"]


@pytest.mark.asyncio
async def test_an_id_far_ahead_starts_no_fill_and_takes_nothing_from_the_later_trades(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming(CRYPTOFLOW_GAP_FILL_MAX_IDS="1000")
    requests_before = len(market.requests)
    far = (newest(market, "BTCUSDT") or 0) + 10**12
    recorded = await attacked(market, streams, agg_trade_frame("BTCUSDT", far))
    assert len(recorded.dead) == 1 and recorded.dead[0].startswith("implausible trade id")
    assert far not in recorded.ids("BTCUSDT")
    assert not recorded.gaps
    assert streams.status()["dropped"]["implausible"] == 1
    assert len(market.requests) - requests_before < 5  # no fill towards it


@pytest.mark.asyncio
async def test_an_id_ahead_within_the_bound_that_rest_never_knew_cannot_capture_the_sequence(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming(CRYPTOFLOW_GAP_FILL_MAX_IDS="100000")
    bogus = (newest(market, "BTCUSDT") or 0) + 5_000
    recorded = await attacked(market, streams, agg_trade_frame("BTCUSDT", bogus), wait=6.0)
    assert bogus not in recorded.ids("BTCUSDT")
    assert len(recorded.dead) == 1 and recorded.dead[0].startswith("implausible trade id")
    assert not recorded.gaps


@pytest.mark.asyncio
async def test_ids_that_go_far_back_are_a_reported_reset_and_dead_letters(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming(CRYPTOFLOW_GAP_FILL_MAX_IDS="1000")
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await asyncio.sleep(1.0)
    await settle(market, recorded)
    last = recorded.ids("BTCUSDT")[-1]
    back = last - 10**6
    recorded = await attacked(
        market, streams, *(agg_trade_frame("BTCUSDT", back + n) for n in range(3)))
    assert len(recorded.dead) == 3
    assert all(reason.startswith("trade ids went back") for reason in recorded.dead)
    (reset,) = streams.status()["sequence_resets"]
    assert (reset["symbol"], reset["direction"], reset["to_id"]) == ("BTCUSDT", "back", back)
    assert reset["from_id"] >= last


@pytest.mark.asyncio
async def test_ids_that_stay_far_ahead_are_a_reset_filled_up_to_the_bound() -> None:
    """The recording stands 5,000 ids behind, five times the bound: the stream's trades
    confirm the jump, the first 1,000 ids after the recording are filled from REST, the
    rest is recorded as an unfilled gap, and the stream goes on from there."""
    sim = SimExchange(seed=5, trade_rate=60.0, history=120, trade_retention=20_000)

    def behind(sim: SimExchange, symbol: str) -> int | None:
        return sim.agg_trades(symbol)[-1]["a"] - 5_000 if symbol == "BTCUSDT" else None

    env = {"CRYPTOFLOW_GAP_FILL_MAX_IDS": "1000"}
    async with streaming_from(sim, SYMBOLS, env, behind) as (streams, recorded):
        for _ in range(100):
            if recorded.gaps:
                break
            await asyncio.sleep(0.1)
        await settle(sim, recorded)
        (reset,) = streams.status()["sequence_resets"]
        assert reset["direction"] == "ahead"
        ((gap, reason),) = recorded.gaps
        ids = recorded.ids("BTCUSDT")
        assert gap.first_id == ids[0] + 1000 == reset["from_id"] + 1
        assert "CRYPTOFLOW_GAP_FILL_MAX_IDS" in reason
        assert ids == [*range(ids[0], gap.first_id), *range(gap.last_id + 1, ids[-1] + 1)]


@pytest.mark.asyncio
async def test_a_ping_flood_is_answered_within_binance_message_limit(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming()
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await settle(market, recorded)
    market.inject_stream(StreamFault.ping_flood(2000))
    await asyncio.sleep(2.5)
    assert not [v for v in market.stream_violations if v.kind == "messages"]
    (record,) = market.connections
    assert record.closed_at is None and record.pongs >= 1
    assert record.frames_received <= 5  # one pong a second at most
    await settle(market, recorded)
    assert_every_trade_once(market, recorded)


@pytest.mark.asyncio
async def test_a_failure_while_handling_a_frame_reopens_the_connection(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    streams = streaming()
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    calls = 0

    async def failing_once(value: bytes, reason: str, origin: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug nobody foresaw")
        recorded.dead.append(reason)

    streams.dead_letter = failing_once
    failures = metrics.STREAM_FAILURES._value.get()
    await attacked(market, streams, b"not json")
    connection = streams.connections[0]
    assert connection.reconnects == 1
    assert connection.last_error == "failed: RuntimeError: a bug nobody foresaw"
    assert metrics.STREAM_FAILURES._value.get() == failures + 1
    assert streams.status()["connections"][0]["running"]


@pytest.mark.asyncio
async def test_concurrent_fills_send_nothing_after_a_429_until_retry_after() -> None:
    """Three symbols fill at once, pages of 1,000 trades each; every third aggTrades
    request is answered 429 with Retry-After: 1. Binance counts 429s per IP: no request
    may reach it before that second has passed, whichever symbol's fill sends it."""
    sim = SimExchange(seed=5, trade_rate=60.0, history=120, trade_retention=20_000)
    pass_through = Fault.delay(0).at(AGG_TRADES_PATH)
    sim.inject(*[pass_through, pass_through,
                 Fault.status(429, retry_after=1).at(AGG_TRADES_PATH)] * 4)

    def behind(sim: SimExchange, symbol: str) -> int | None:
        trades = sim.agg_trades(symbol)
        return trades[0]["a"] if trades else None

    async with streaming_from(sim, SYMBOLS, {}, behind) as (_, recorded):
        await settle(sim, recorded, seconds=40.0)
        assert len([r for r in sim.requests if r.status == 429]) >= 2
        assert not sim.violations
        assert_every_trade_once(sim, recorded)


@pytest.mark.asyncio
async def test_a_stream_that_cannot_connect_says_why() -> None:
    """Nothing listens on the stream's port: the connection's error (which /api/health/
    shows) names the host and port that refused, while REST answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    sim = SimExchange(seed=4, trade_rate=5.0)
    env = {"CRYPTOFLOW_BINANCE_WS_URL": f"ws://127.0.0.1:{closed}"}
    async with streaming_from(sim, SYMBOLS, env) as (streams, _):
        for _ in range(50):
            if streams.connections and streams.connections[0].last_error:
                break
            await asyncio.sleep(0.1)
        (connection,) = streams.status()["connections"]
        assert connection["last_error"] == (
            f"cannot connect: 127.0.0.1:{closed} refused the connection (nothing listens there)")


@pytest.mark.asyncio
async def test_trades_binance_marks_invalid_are_filled_as_such_not_gaps(
    market: SimExchange, streaming: Callable[..., MarketStreams],
) -> None:
    """Never on the stream, served by REST with price and quantity 0 and first and last
    trade id -1: the fill hands them on (flagged by their fields), the sequence stays
    whole, nothing is a gap or a dead letter."""
    streams = streaming()
    recorded: Recorded = streams.recorded  # type: ignore[attr-defined]  # the test's recorder, kept on the streams
    await asyncio.sleep(1.0)
    await settle(market, recorded)
    market.mark_invalid("BTCUSDT", 3)
    await asyncio.sleep(2.0)
    await settle(market, recorded)
    assert_every_trade_once(market, recorded)
    invalid = market.invalid_ids("BTCUSDT")
    assert len(invalid) == 3
    handed_on = {json.loads(value)["a"]: json.loads(value) for name, value in recorded.trades
                 if name == "BTCUSDT"}
    assert all((handed_on[i]["f"], handed_on[i]["l"], handed_on[i]["p"]) == (-1, -1, "0.00000000")
               for i in invalid)
    assert not recorded.gaps and not recorded.dead


@pytest.mark.asyncio
async def test_an_unreachable_stream_is_warned_of_once_per_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Offline, every retry fails the same way: one warning, the repeats at debug level."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    sim = SimExchange(seed=4, trade_rate=5.0)
    env = {"CRYPTOFLOW_BINANCE_WS_URL": f"ws://127.0.0.1:{closed}"}
    with caplog.at_level(logging.DEBUG, logger="cryptoflow.sources.streams"):
        async with streaming_from(sim, SYMBOLS, env) as (streams, _):
            for _ in range(100):
                if streams.connections and streams.connections[0].failed_attempts >= 4:
                    break
                await asyncio.sleep(0.1)
    retries = [r for r in caplog.records if "reconnecting in" in r.getMessage()]
    assert len(retries) >= 4
    assert [r.levelno for r in retries].count(logging.WARNING) == 1
    assert retries[0].levelno == logging.WARNING
