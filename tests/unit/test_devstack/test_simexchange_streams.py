"""The simulated exchange's stream side and trade history, through a real aiohttp client
against the real server on 127.0.0.1: the stream, aggTrades and klines agree, faults do
what they say, keep-alive and limits behave as Binance documents."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from cryptoflow.devstack.simexchange import (
    AGG_TRADES_PATH,
    MAX_STREAMS,
    MINUTE_MS,
    PRICE_PATH,
    Fault,
    SimExchange,
    SimExchangeThread,
    StreamFault,
)
from tests.unit.test_devstack.test_market import aggregate

STREAMS = "/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker"
WAIT = 20.0  # a safety net for a hung test, never what a test measures


@asynccontextmanager
async def exchange(**options: Any) -> AsyncIterator[SimExchange]:
    sim = SimExchange(seed=11, **{"trade_rate": 50.0, **options})
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@asynccontextmanager
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def wait_until(probe: Any, what: str) -> None:
    async with asyncio.timeout(WAIT):
        while not probe():  # noqa: ASYNC110  (the read-backs are polled, like a thread would)
            await asyncio.sleep(0.02)
    assert probe(), what


async def receive(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    return await ws.receive(timeout=WAIT)


async def closing(ws: aiohttp.ClientWebSocketResponse, pong: bytes | None = None,
                  ) -> aiohttp.WSMessage:
    """The first message that is neither data nor a ping (answering pings with ``pong``
    if given): how the connection ended."""
    async with asyncio.timeout(WAIT):
        while (msg := await receive(ws)).type in (aiohttp.WSMsgType.TEXT,
                                                  aiohttp.WSMsgType.PING):
            if msg.type is aiohttp.WSMsgType.PING and pong is not None:
                await ws.pong(pong)
    return msg


async def trades(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    """The data of the next ``count`` aggTrade messages (other messages skipped)."""
    got: list[dict[str, Any]] = []
    while len(got) < count:
        msg = await receive(ws)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        message = json.loads(msg.data)
        if message["stream"] == "btcusdt@aggTrade":
            got.append(message["data"])
    return got


def rest_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("a", "p", "q", "f", "l", "T", "m", "M")}


async def get(http: aiohttp.ClientSession, sim: SimExchange, path: str,
              **query: Any) -> tuple[int, Any, Any]:
    async with http.get(sim.url + path, params={k: str(v) for k, v in query.items()}) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body, r.headers


@pytest.mark.asyncio
async def test_the_stream_sends_consecutive_trades_that_aggtrades_lists_too() -> None:
    async with exchange() as sim, session() as http, http.ws_connect(sim.ws_url + STREAMS) as ws:
        data = await trades(ws, 60)
        ids = [d["a"] for d in data]
        assert ids == list(range(ids[0], ids[0] + 60))
        assert all(d["e"] == "aggTrade" and d["s"] == "BTCUSDT" and d["E"] >= d["T"]
                   for d in data)
        status, body, headers = await get(http, sim, AGG_TRADES_PATH, symbol="BTCUSDT",
                                          fromId=ids[0], limit=60)
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "4"
        assert body == [rest_item(d) for d in data]
        kept = {t["a"]: t for t in sim.agg_trades("BTCUSDT")}
        assert all(kept[d["a"]] == rest_item(d) for d in data)


@pytest.mark.asyncio
async def test_book_tickers_are_streamed_with_bid_below_ask() -> None:
    async with exchange(book_rate=50.0) as sim, session() as http, \
            http.ws_connect(sim.ws_url + "/stream?streams=ethusdt@bookTicker") as ws:
        books = [json.loads((await receive(ws)).data) for _ in range(20)]
        assert {b["stream"] for b in books} == {"ethusdt@bookTicker"}
        data = [b["data"] for b in books]
        assert all(d["s"] == "ETHUSDT" and float(d["b"]) < float(d["a"]) for d in data)
        assert all(a["u"] < b["u"] for a, b in itertools.pairwise(data))


@pytest.mark.asyncio
async def test_aggtrades_pages_by_id_and_by_time() -> None:
    async with exchange(history=30, trade_retention=5_000) as sim, session() as http:
        history = sim.agg_trades("BTCUSDT")
        assert len(history) > 100
        pages, from_id = [], history[0]["a"]
        while len(pages) < len(history):
            _, page, _ = await get(http, sim, AGG_TRADES_PATH, symbol="BTCUSDT",
                                   fromId=from_id, limit=37)
            assert 0 < len(page) <= 37
            pages += page
            from_id = page[-1]["a"] + 1
        assert pages[:len(history)] == history

        start, end = history[20]["T"], history[80]["T"]
        _, window, _ = await get(http, sim, AGG_TRADES_PATH, symbol="BTCUSDT",
                                 startTime=start, endTime=end, limit=1000)
        assert window == [t for t in sim.agg_trades("BTCUSDT") if start <= t["T"] <= end]
        _, first, _ = await get(http, sim, AGG_TRADES_PATH, symbol="BTCUSDT",
                                startTime=start, limit=3)
        assert first == [t for t in history if t["T"] >= start][:3]
        _, latest, _ = await get(http, sim, AGG_TRADES_PATH, symbol="BTCUSDT")
        assert len(latest) == 500 and latest[-1]["a"] >= history[-1]["a"]


@pytest.mark.asyncio
async def test_aggtrades_from_an_id_older_than_kept_answers_from_the_oldest_kept() -> None:
    async with exchange(history=20, trade_retention=100) as sim, session() as http:
        oldest = sim.agg_trades("BTCUSDT")[0]["a"]
        _, page, _ = await get(http, sim, AGG_TRADES_PATH, symbol="BTCUSDT",
                               fromId=oldest - 500, limit=10)
        kept = sim.agg_trades("BTCUSDT")
        assert len(kept) == 100
        # from what was the oldest kept when it answered; nothing older is served
        assert oldest <= page[0]["a"] <= kept[0]["a"]
        assert [t["a"] for t in page] == list(range(page[0]["a"], page[0]["a"] + 10))


@pytest.mark.asyncio
@pytest.mark.parametrize(("query", "code"), [
    ({"symbol": "NOPEUSDT"}, -1121),
    ({}, -1102),
    ({"symbol": "BTCUSDT", "fromId": "x"}, -1102),
    ({"symbol": "BTCUSDT", "limit": 1001}, -1130),
    ({"symbol": "BTCUSDT", "limit": 0}, -1130),
    ({"symbol": "BTCUSDT", "fromId": 1, "startTime": 1}, -1128),
    ({"symbol": "BTCUSDT", "startTime": 0, "endTime": 3_600_001}, -1127),
])
async def test_bad_aggtrades_parameters_are_binance_errors(
    query: dict[str, Any], code: int,
) -> None:
    async with exchange() as sim, session() as http:
        status, body, _ = await get(http, sim, AGG_TRADES_PATH, **query)
        assert (status, body["code"]) == (400, code)
        assert body["msg"]


@pytest.mark.asyncio
async def test_klines_of_the_history_equal_an_aggregation_of_its_trades() -> None:
    async with exchange(history=150, trade_rate=20.0) as sim, session() as http:
        history = sim.agg_trades("BTCUSDT")
        first = history[0]["T"] - history[0]["T"] % MINUTE_MS
        closed = history[-1]["T"] - history[-1]["T"] % MINUTE_MS  # later ones may grow
        _, rows, _ = await get(http, sim, "/api/v3/klines", symbol="BTCUSDT", interval="1m",
                               startTime=first, endTime=closed - 1)
        assert [r[0] for r in rows] == list(range(first, closed, MINUTE_MS))
        assert len(rows) >= 2
        for row in rows:
            minute = [t for t in history if row[0] <= t["T"] < row[0] + MINUTE_MS]
            assert row[1:6] + row[7:11] == aggregate(minute)
            assert row[6] == row[0] + MINUTE_MS - 1
        assert any(t["T"] == rows[1][0] for t in history)  # a trade on the minute
        # minutes before the history began: the same candles every time, a walk (each
        # opening at the previous close) whose last close is the first trade's price
        _, before, _ = await get(http, sim, "/api/v3/klines", symbol="BTCUSDT", interval="1m",
                                 startTime=first - 90 * MINUTE_MS, endTime=first - 1)
        again = await get(http, sim, "/api/v3/klines", symbol="BTCUSDT", interval="1m",
                          startTime=first - 90 * MINUTE_MS, endTime=first - 1)
        assert len(before) == 90 and before == again[1]
        assert all(a[4] == b[1] for a, b in itertools.pairwise(before))
        first_price = float(history[0]["p"])
        assert abs(float(before[-1][4]) / first_price - 1) < 1e-6  # within a few ticks


@pytest.mark.asyncio
async def test_the_ticker_is_the_last_trade_and_book_tickers_straddle_it() -> None:
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    async with exchange(book_rate=50.0, history=10) as sim, session() as http:
        await wait_until(lambda: all(sim.agg_trades(s) for s in symbols), "a trade each")
        sim.quiet(WAIT)  # no more trades: the last trade stays the last
        _, (last,), _ = await get(http, sim, AGG_TRADES_PATH, symbol="BTCUSDT", limit=1)
        _, ticker, _ = await get(http, sim, PRICE_PATH, symbol="BTCUSDT")
        assert ticker == {"symbol": "BTCUSDT", "price": last["p"]}
        _, tickers, _ = await get(http, sim, PRICE_PATH)
        assert tickers == [{"symbol": s, "price": sim.agg_trades(s)[-1]["p"]} for s in symbols]
        assert [(p.symbol, p.price) for p in sim.served] == [
            ("BTCUSDT", last["p"]), *[(t["symbol"], t["price"]) for t in tickers]]
        async with http.ws_connect(sim.ws_url + "/stream?streams=btcusdt@bookTicker") as ws:
            books = [json.loads((await receive(ws)).data)["data"] for _ in range(20)]
        assert all(float(b["b"]) <= float(last["p"]) <= float(b["a"]) for b in books)


# -- faults -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_dropped_connection_closes_without_a_close_frame() -> None:
    async with exchange() as sim, session() as http, http.ws_connect(sim.ws_url + STREAMS) as ws:
        await trades(ws, 1)
        sim.inject_stream(StreamFault.drop_connection())
        msg = await closing(ws)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE  # no close frame came
        await wait_until(lambda: sim.connections[0].closed_at is not None, "closed")
        assert sim.connections[0].close_reason == "dropped"


@pytest.mark.asyncio
async def test_skipped_trades_leave_a_gap_that_aggtrades_fills() -> None:
    async with exchange() as sim, session() as http, http.ws_connect(sim.ws_url + STREAMS) as ws:
        (first,) = await trades(ws, 1)
        sim.inject_stream(StreamFault.skip_trades("BTCUSDT", 7))
        ids = [first["a"]] + [d["a"] for d in await trades(ws, 40)]
        jumps = [(a, b) for a, b in itertools.pairwise(ids) if b != a + 1]
        assert [b - a - 1 for a, b in jumps] == [7]
        assert not ws.closed
        ((before, after),) = jumps
        kept = [t["a"] for t in sim.agg_trades("BTCUSDT")]
        assert set(range(before + 1, after)) <= set(kept)  # the trades did happen


@pytest.mark.asyncio
async def test_a_stall_sends_nothing_not_even_pings_and_the_trades_are_missed() -> None:
    async with exchange(trade_rate=200.0, ping_interval=0.05) as sim, session() as http, \
            http.ws_connect(sim.ws_url + STREAMS, autoping=False) as ws:
        frames: list[aiohttp.WSMessage] = []
        async with asyncio.timeout(WAIT):
            while sum(f.type is aiohttp.WSMsgType.PING for f in frames) < 3:
                frames.append(await receive(ws))
        sim.inject_stream(StreamFault.stall(1.0))
        await wait_until(lambda: sim.applied_stream_faults, "the stall applied")
        async with asyncio.timeout(WAIT):
            while sum(f.type is aiohttp.WSMsgType.PING for f in frames) < 6:
                frames.append(await receive(ws))
        ids = [json.loads(f.data)["data"]["a"] for f in frames if f.type is
               aiohttp.WSMsgType.TEXT and "aggTrade" in f.data]
        gaps = [(a, b) for a, b in itertools.pairwise(ids) if b != a + 1]
        (before, after), = gaps
        history = {t["a"]: t for t in sim.agg_trades("BTCUSDT")}
        missed = [history[i] for i in range(before + 1, after)]
        assert len(missed) > 20
        pings = [int(f.data) for f in frames if f.type is aiohttp.WSMsgType.PING]
        assert not [p for p in pings if missed[0]["T"] < p < missed[-1]["T"]]
        assert not ws.closed


@pytest.mark.asyncio
async def test_refused_connections_get_503_while_it_lasts() -> None:
    async with exchange() as sim, session() as http:
        sim.inject_stream(StreamFault.refuse_connections(0.5))
        await wait_until(lambda: sim.applied_stream_faults, "the refusal applied")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(sim.ws_url + STREAMS)
        assert refused.value.status == 503
        async with asyncio.timeout(WAIT):
            while True:
                try:
                    ws = await http.ws_connect(sim.ws_url + STREAMS)
                    break
                except aiohttp.WSServerHandshakeError as err:
                    assert err.status == 503
                    await asyncio.sleep(0.05)
        await trades(ws, 1)
        await ws.close()
        statuses = [a.status for a in sim.connection_attempts]
        assert statuses[0] == 503 and statuses[-1] == 101


@pytest.mark.asyncio
async def test_a_server_shutdown_closes_with_1001() -> None:
    async with exchange() as sim, session() as http, http.ws_connect(sim.ws_url + STREAMS) as ws:
        await trades(ws, 1)
        sim.inject_stream(StreamFault.shutdown())
        msg = await closing(ws)
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert (msg.data, msg.extra) == (1001, "server shutdown")
        await wait_until(lambda: sim.connections[0].closed_at is not None, "closed")
        assert sim.connections[0].close_reason == "server shutdown"


@pytest.mark.asyncio
async def test_malformed_frames_are_sent_between_good_ones() -> None:
    async with exchange() as sim, session() as http, http.ws_connect(sim.ws_url + STREAMS) as ws:
        await trades(ws, 1)
        sim.inject_stream(StreamFault.malformed(8))
        bad: list[str] = []
        async with asyncio.timeout(WAIT):
            while len(bad) < 8:
                text = (await receive(ws)).data
                try:
                    message = json.loads(text)
                except json.JSONDecodeError:
                    bad.append("not json")
                    continue
                if "data" not in message:
                    bad.append("no data")
                elif message["stream"].endswith("@weird"):
                    bad.append("unknown event")
                elif "e" in message["data"] and message["data"]["p"] == "abc":
                    bad.append("bad price")
        assert sorted(set(bad)) == ["bad price", "no data", "not json", "unknown event"]
        assert bad.count("not json") == 2
        await trades(ws, 3)  # and the stream goes on


@pytest.mark.asyncio
async def test_rest_faults_go_to_the_path_they_are_for() -> None:
    async with exchange() as sim, session() as http:
        sim.inject(Fault.status(503), Fault.status(429, retry_after=2).at(AGG_TRADES_PATH))
        status, body, headers = await get(http, sim, AGG_TRADES_PATH, symbol="BTCUSDT")
        assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "2")
        status, _, _ = await get(http, sim, "/api/v3/ticker/price")
        assert status == 503  # the default target: ticker and klines, as before
        status, _, _ = await get(http, sim, AGG_TRADES_PATH, symbol="BTCUSDT")
        assert status == 200
        assert len(sim.violations) == 2  # both sent inside the Retry-After


@pytest.mark.asyncio
async def test_control_messages_subscribe_list_and_unsubscribe() -> None:
    async with exchange() as sim, session() as http, \
            http.ws_connect(sim.ws_url + "/stream?streams=btcusdt@bookTicker") as ws:

        async def ask(request: Any) -> dict[str, Any]:
            await ws.send_str(request if isinstance(request, str) else json.dumps(request))
            async with asyncio.timeout(WAIT):
                while True:
                    message = json.loads((await receive(ws)).data)
                    if "stream" not in message:
                        return message

        assert await ask({"method": "SUBSCRIBE", "params": ["ethusdt@aggTrade"], "id": 1}) == {
            "result": None, "id": 1}
        async with asyncio.timeout(WAIT):
            while json.loads((await receive(ws)).data)["stream"] != "ethusdt@aggTrade":
                pass
        assert await ask({"method": "LIST_SUBSCRIPTIONS", "id": 2}) == {
            "result": ["btcusdt@bookTicker", "ethusdt@aggTrade"], "id": 2}
        assert await ask({"method": "UNSUBSCRIBE", "params": ["btcusdt@bookTicker"],
                          "id": 3}) == {"result": None, "id": 3}
        assert sim.connections[0].streams == ("ethusdt@aggTrade",)
        errors = [await ask(bad) for bad in (
            "{not json", {"params": []}, {"method": "SUBSCRIBE", "params": ["x@y"], "id": 4},
            {"method": "SUBSCRIBE", "params": "btcusdt@aggTrade", "id": 5},
            {"method": "FLY", "id": 6}, {"method": "LIST_SUBSCRIPTIONS", "id": -1})]
        assert [(e["error"]["code"], e["id"]) for e in errors] == [
            (3, None), (2, None), (2, 4), (2, 5), (2, 6), (2, None)]
        assert all(e["error"]["msg"] for e in errors)
        assert sim.connections[0].streams == ("ethusdt@aggTrade",)


# -- keep-alive and limits ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_client_that_pongs_stays_and_a_silent_one_is_closed() -> None:
    async with exchange(ping_interval=0.05, pong_timeout=0.3) as sim, session() as http:
        async with http.ws_connect(sim.ws_url + STREAMS) as answering:
            async with asyncio.timeout(WAIT):
                while sim.connections[0].pongs < 10:
                    await receive(answering)  # which answers the pings (autoping)
            assert sim.connections[0].closed_at is None and not answering.closed
        async with http.ws_connect(sim.ws_url + STREAMS, autoping=False) as silent:
            msg = await closing(silent)
            assert (msg.type, msg.data, msg.extra) == (
                aiohttp.WSMsgType.CLOSE, 1008, "pong timeout")
        await wait_until(lambda: sim.connections[1].closed_at is not None, "closed")
        assert sim.connections[1].close_reason == "pong timeout"
        assert sim.connections[1].pongs == 0


@pytest.mark.asyncio
async def test_unsolicited_pongs_do_not_keep_a_connection() -> None:
    async with exchange(ping_interval=0.05, pong_timeout=0.3) as sim, session() as http, \
            http.ws_connect(sim.ws_url + STREAMS, autoping=False) as ws:
        msg = await closing(ws, pong=b"not the payload")
        assert (msg.data, msg.extra) == (1008, "pong timeout")


@pytest.mark.asyncio
async def test_connections_are_closed_at_their_maximum_age() -> None:
    async with exchange(max_connection_age=0.3) as sim, session() as http, \
            http.ws_connect(sim.ws_url + STREAMS) as ws:
        msg = await closing(ws)
        assert (msg.data, msg.extra) == (1000, "connection age limit")


@pytest.mark.asyncio
async def test_more_than_five_frames_a_second_is_a_violation() -> None:
    async with exchange() as sim, session() as http, http.ws_connect(sim.ws_url + STREAMS) as ws:
        for _ in range(3):
            await ws.ping()
        await wait_until(lambda: sim.connections[0].frames_received == 3, "three pings")
        assert sim.stream_violations == []
        for _ in range(12):
            await ws.ping()
        await wait_until(lambda: sim.stream_violations, "a violation")
        (violation,) = {v.kind for v in sim.stream_violations}
        assert violation == "messages"
        assert sim.stream_violations[0].connection == sim.connections[0].id


@pytest.mark.asyncio
async def test_more_than_300_attempts_in_5_minutes_is_a_violation() -> None:
    async with exchange() as sim, session() as http:
        for _ in range(300):
            async with http.get(sim.url + "/stream?streams=bad") as refused:
                assert refused.status == 400
        assert sim.stream_violations == []
        async with http.get(sim.url + "/stream?streams=bad"):
            pass
        (violation,) = sim.stream_violations
        assert (violation.kind, violation.count) == ("attempts", 301)
        assert len(sim.connection_attempts) == 301


@pytest.mark.asyncio
@pytest.mark.parametrize(("streams", "code"), [
    ("", -1102), ("btcusdt@trade", -1100), ("btcusdt", -1100), ("BTCUSDT@aggTrade", -1121),
    ("dogeusdt@aggTrade", -1121),
])
async def test_bad_stream_names_refuse_the_upgrade(streams: str, code: int) -> None:
    async with exchange() as sim, session() as http:
        async with http.get(f"{sim.url}/stream", params={"streams": streams}) as refused:
            assert refused.status == 400
            assert (await refused.json())["code"] == code
        assert sim.connections == []


@pytest.mark.asyncio
async def test_at_most_1024_streams_a_connection() -> None:
    symbols = [f"X{i}USDT" for i in range(MAX_STREAMS // 2 + 1)]
    names = [f"{s.lower()}@{kind}" for s in symbols for kind in ("aggTrade", "bookTicker")]
    async with exchange(symbols=symbols, trade_rate=0.0, book_rate=0.0) as sim, \
            session() as http:
        async with http.get(f"{sim.url}/stream", params={"streams": "/".join(names)}) as r:
            assert (r.status, (await r.json())["code"]) == (400, -1101)
        url = f"{sim.ws_url}/stream?streams={'/'.join(names[:MAX_STREAMS])}"
        async with http.ws_connect(url) as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": names[MAX_STREAMS:], "id": 7})
            reply = json.loads((await receive(ws)).data)
            assert (reply["error"]["code"], reply["id"]) == (2, 7)
        assert len(sim.connections[0].streams) == MAX_STREAMS


@pytest.mark.asyncio
async def test_stopping_the_server_closes_connections_with_1001() -> None:
    async with session() as http:
        async with exchange() as sim:
            ws = await http.ws_connect(sim.ws_url + STREAMS)
            await trades(ws, 1)
        msg = await closing(ws)
        assert (msg.data, msg.extra) == (1001, "server stopped")
        await ws.close()


def test_the_thread_form_serves_streams_and_reads_back_from_another_thread() -> None:
    with SimExchangeThread(seed=3, trade_rate=50.0) as running:
        assert running.ws_url == running.url.replace("http://", "ws://")

        async def client() -> aiohttp.WSMessage:
            async with session() as http, http.ws_connect(running.ws_url + STREAMS) as ws:
                (first,) = await trades(ws, 1)
                assert first["a"] in {t["a"] for t in running.sim.agg_trades("BTCUSDT")}
                running.sim.inject_stream(StreamFault.shutdown())  # from this thread
                return await closing(ws)

        assert asyncio.run(client()).data == 1001
        assert [c.close_reason for c in running.sim.connections] == ["server shutdown"]


def test_the_command_line_serves_rest_and_streams_on_one_port() -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "cryptoflow.devstack.simexchange", "--port", "0",
         "--symbols", "BTCUSDT,DOGEUSDT", "--trade-rate", "40", "--book-rate", "2",
         "--seed", "4"], stderr=subprocess.PIPE, text=True)
    try:
        assert cli.stderr is not None
        line = cli.stderr.readline()
        rest, ws_url = re.findall(r"(?:http|ws)://127\.0\.0\.1:\d+", line)
        assert ws_url == rest.replace("http://", "ws://")

        async def client() -> list[dict[str, Any]]:
            async with session() as http, \
                    http.ws_connect(f"{ws_url}/stream?streams=dogeusdt@aggTrade") as ws:
                got = []
                while len(got) < 3:
                    got.append(json.loads((await receive(ws)).data))
                return got

        assert {m["data"]["s"] for m in asyncio.run(client())} == {"DOGEUSDT"}
        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=WAIT) == 0
    finally:
        cli.kill()
        cli.communicate()
