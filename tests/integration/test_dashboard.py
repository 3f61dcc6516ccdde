"""The live dashboard: its event stream on real parts, and the page in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from cryptoflow.devstack.simexchange import DEFAULT_SYMBOLS, SimExchangeThread
from tests.integration.conftest import (
    READY_LINE,
    WorkerProcess,
    free_port,
    get,
    served,
    wait_for,
)
from tests.integration.test_streams import STREAM_ENV
from tests.integration.test_streams_scaling import each_symbol_once, streamed_by

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
NO_VALUE = "\u2013"  # the en dash the page shows where it has no number yet
T = TypeVar("T")
# The page's candle intervals, and how many candles one chart shows at most.
INTERVALS = {"1m": timedelta(minutes=1), "5m": timedelta(minutes=5), "1h": timedelta(hours=1)}
MAX_CANDLES = 2016
SYMBOLS = DEFAULT_SYMBOLS


def read_events(worker: WorkerProcess, ticks: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Events of a fresh /api/stream/ connection until ``ticks`` tick events came."""
    events: list[dict[str, Any]] = []
    url = f"http://127.0.0.1:{worker.web_port}/api/stream/"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response:
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
                if sum(event["type"] == "tick" for event in events) == ticks:
                    break
    return events


def test_the_stream_carries_the_served_prices_and_clients_leave_no_trace(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker()
    dashboard_line = f"cryptoflow: dashboard at http://127.0.0.1:{worker.web_port}/"
    log = wait_for(lambda: dashboard_line in worker.log() and worker.log(), timeout=10,
                   what="the dashboard's URL in the log")
    assert log.index(READY_LINE) < log.index(dashboard_line)
    wait_for(lambda: len(exchange.sim.served) >= 3, what="a first poll")
    assert get(worker, "/api/health/")[1]["exchange"] == {
        "host": exchange.url.removeprefix("http://"), "simulated": True,
        "unreachable_since": None}
    events = read_events(worker, 6)
    ticks = [e for e in events if e["type"] == "tick"]
    assert len(ticks) == 6
    prices = served(exchange)
    assert all((t["symbol"], t["price"]) in prices for t in ticks)
    assert {t["symbol"] for t in ticks} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert all(e["count"] >= 1 for e in events if e["type"] == "stats")

    def churn() -> None:
        for _ in range(5):
            read_events(worker, 2)

    clients = [threading.Thread(target=churn) for _ in range(2)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=60)
    wait_for(lambda: get(worker, "/api/health/")[1]["stream_clients"] == 0,
             what="every stream client gone")
    assert worker.running


def test_stream_clients_are_capped_and_a_stop_ends_the_open_streams(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker(CRYPTOFLOW_STREAM_CLIENTS="3")
    url = f"http://127.0.0.1:{worker.web_port}/api/stream/"
    ended: list[str] = []

    def watch() -> None:  # reads the stream to its end
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                for _ in response:
                    pass
            ended.append("eof")
        except OSError as err:
            ended.append(repr(err))

    clients = [threading.Thread(target=watch) for _ in range(3)]
    for client in clients:
        client.start()
    wait_for(lambda: get(worker, "/api/health/")[1]["stream_clients"] == 3,
             what="three stream clients")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 503
    assert refused.value.headers["Retry-After"]
    assert json.loads(refused.value.read())["error"]["status"] == 503

    assert worker.stop() == 0  # within the fixture's generous timeout, not 60 s of waiting
    for client in clients:
        client.join(timeout=30)
    assert ended == ["eof"] * 3, ended


needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="the browser test needs Chromium and its driver on PATH: "
           "apt-get install chromium chromium-driver (.ci/run does)")

# layoutProblems(), chartAxes(), statisticsShown(), candleStarts(), ...: run in the page
PROBES = (Path(__file__).parent / "dashboard_probes.js").read_text()


def probe(browser: Any, function: str, *args: Any) -> Any:
    return browser.execute_script(f"{PROBES}\nreturn {function}(...arguments);", *args)


def until(browser: Any, condition: Callable[[], T], what: str, timeout: float = 30) -> T:
    """Selenium's own wait for ``condition`` (a probe of the page, or of the page and
    the API together) to be truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.2).until(
        lambda _: condition(), message=f"waiting for {what}")


def api_candle_starts(
    worker: WorkerProcess, symbol: str, interval: str, span: timedelta,
) -> list[str]:
    """The starts of the candles /api/candles/ answers for the span a chart shows
    (the newest candle and those before it within ``span``), every page followed."""
    step = INTERVALS[interval]
    seconds = step.total_seconds()
    newest = datetime.fromtimestamp(datetime.now(UTC).timestamp() // seconds * seconds, UTC)
    start = (newest - (min(span / step, MAX_CANDLES) - 1) * step).isoformat().replace("+00:00", "Z")
    path: str | None = f"/api/candles/{symbol}/?interval={interval}&limit=1000&start={start}"
    starts: list[str] = []
    while path:
        status, body = get(worker, path)
        assert status == 200, body
        starts += [candle["start"] for candle in body["candles"]]
        path = body["next"] and urlsplit(body["next"])._replace(scheme="", netloc="").geturl()
    return starts


def charted_as_recorded(
    browser: Any, worker: WorkerProcess, symbol: str, interval: str = "1m",
    span: timedelta = timedelta(hours=2),
) -> list[str]:
    """The chart's candles once they are one per candle the API answers, the same ones."""
    shown = probe(browser, "candleStarts", symbol)
    return shown if shown and shown == api_candle_starts(worker, symbol, interval, span) else []


@pytest.fixture
def chrome() -> Iterator[Any]:
    """Headless Debian Chromium through selenium, its console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1200,800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield browser
    finally:
        browser.quit()


def console_errors(browser: Any) -> list[dict[str, Any]]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def shown_prices(browser: Any) -> dict[str, str] | None:
    """Each card's price once all three symbols show one."""
    from selenium.webdriver.common.by import By

    now = {card.get_attribute("data-symbol"): card.find_element(By.CLASS_NAME, "price").text
           for card in browser.find_elements(By.CSS_SELECTOR, ".card")}
    return now if len(now) == 3 and NO_VALUE not in now.values() else None


@needs_chromium
def test_the_page_shows_every_symbol_and_moves_without_a_reload(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess], chrome: Any,
) -> None:
    from selenium.webdriver.common.by import By

    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="1")
    wait_for(lambda: len(exchange.sim.served) >= 6, what="two polls")
    chrome.get(f"http://127.0.0.1:{worker.web_port}/")
    first = wait_for(lambda: shown_prices(chrome), what="three symbols with prices")
    assert set(first) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    source = wait_for(lambda: chrome.find_element(By.ID, "source").text,
                      what="the header naming the price source")
    assert source == f"prices from the simulated exchange ({exchange.url.removeprefix('http://')})"
    # polled every second, the price moves within seconds; a loaded machine's browser
    # may draw late
    wait_for(lambda: (shown_prices(chrome) or first)["BTCUSDT"] != first["BTCUSDT"], timeout=30,
             what="the BTCUSDT price to change without a reload")
    assert chrome.execute_script("return cf.formatPrice(67234.5)") == "67,234.50"
    assert chrome.execute_script("return cf.formatPrice(0.000123456)") == "0.00012346"
    assert chrome.execute_script("return cf.formatPct(1.234)") == "+1.23 %"
    assert chrome.execute_script("return cf.niceTicks(66941.18, 67052.89, 5)") == [
        67050, 67000, 66950]
    assert chrome.execute_script("return cf.niceTicks(0.1, 0.9, 5)") == [0.8, 0.6, 0.4, 0.2]
    assert chrome.execute_script("return cf.formatTick(67050, 50)") == "67,050"
    assert chrome.execute_script("return cf.formatTick(0.2, 0.2)") == "0.2"
    assert chrome.execute_script("return cf.timeTicks(1000, 62000, 5)") == [30000, 60000]
    # 18:04 to 19:38 in four labels: hourly would be one (19:00), so half-hourly
    assert chrome.execute_script("return cf.timeTicks(65040e3, 70680e3, 4)") == [
        66_600_000, 68_400_000, 70_200_000]
    week = chrome.execute_script("return cf.timeTicks(0, 7 * 86400e3, 16)")
    assert week == [t * 43_200_000 for t in range(15)]  # a week: every 12 h
    assert chrome.execute_script("return cf.formatAmount(0.0123456)") == "0.01235"
    assert chrome.execute_script("return cf.formatAmount(1234567)") == "1.23 M"
    assert chrome.execute_script("return cf.formatBps(0.0014925)") == "0.0015 bps"
    assert chrome.execute_script("return cf.formatBps(12.345)") == "12.35 bps"
    assert chrome.execute_script("return cf.formatRate(4.847)") == "4.8"
    assert chrome.execute_script("return cf.formatRate(1 / 60)") == "0.017"
    # trades/s: the live batches of the last 10 s, else the 1m window's count
    assert chrome.execute_script(
        "return cf.tradeRate({batches: [[95e3, 12], [99e3, 8]], firstBatchAt: 90e3, stats: {}},"
        " 100e3).rate") == 2
    assert chrome.execute_script(
        "return cf.tradeRate({batches: [[80e3, 12]], firstBatchAt: 80e3, stats: {'1m': {"
        "trades: 90, window: {start: '1970-01-01T00:01:00Z', end: '1970-01-01T00:02:00Z'}}}},"
        " 90e3).rate") == 3  # 90 trades in the window's first 30 s
    # a chart's time span: 2 h of 1m candles up to the forming one, or, for a younger
    # recording, from its first candle on
    now = 7200e3 + 30e3
    assert chrome.execute_script(
        "return cf.chartSpan(60e3, 7200e3, 60e3, 7200e3, arguments[0])", now) == {
        "t0": 60e3, "t1": 7260e3, "since": None}
    assert chrome.execute_script(
        "return cf.chartSpan(6000e3, 7200e3, 60e3, 7200e3, arguments[0])", now) == {
        "t0": 6000e3, "t1": 7260e3, "since": 6000e3}
    assert chrome.execute_script("return cf.formatSince(6000e3, 7200e3)") == (
        "recording since 01:40 UTC")
    assert chrome.execute_script("return cf.formatSince(6000e3, 2 * 86400e3)") == (
        "recording since 1970-01-01 01:40 UTC")
    # the price axis has the headline price on it too
    assert chrome.execute_script(
        "return cf.priceRange([{low: 10, high: 12}, {low: 11, high: 13}], 14)") == {
        "lo": 10, "hi": 14}
    assert chrome.execute_script("return cf.candleAt([{t: 0}, {t: 120e3}], 60e3, 150e3).t") == (
        120e3)
    assert chrome.execute_script("return cf.candleAt([{t: 0}, {t: 120e3}], 60e3, 90e3)") is None
    # a hover card beside the pointer, and inside its card at the card's right edge
    assert chrome.execute_script("return cf.placeHover(100, 50, 150, 120, 400, 600)") == {
        "left": 114, "top": 64}
    assert chrome.execute_script("return cf.placeHover(380, 550, 150, 120, 400, 600)") == {
        "left": 216, "top": 416}
    # where the statistics' prices come from: nothing unless the stats say
    source = "return cf.priceSource(arguments[0], arguments[1])"
    assert chrome.execute_script(source, [["1m", None], ["5m", None]], 3) == ""
    assert chrome.execute_script(source, [["1m", "trades"], ["5m", "trades"]], 3) == (
        "from the streamed trades")
    assert chrome.execute_script(source, [["1m", "ticks"]], 3) == (
        "from the 3-second price polls")
    assert chrome.execute_script(source, [["1m", "trades"], ["1h", "ticks"]], 0.5) == (
        "1m from the streamed trades; 1h from the 0.5-second price polls")
    # without streams the statistics are the polled prices' (when the stats say so)
    until(chrome, lambda: source_shown(chrome, worker, "BTCUSDT", 1),
          "the statistics' source under the table")
    # the candles are the recorded ones (from the ticks, without streams), and the
    # newest moves with the ticks of the event stream, no candle asked for again
    until(chrome, lambda: charted_as_recorded(chrome, worker, "BTCUSDT"),
          "one candle on the chart per candle of /api/candles/")
    requests = probe(chrome, "candleRequests", "BTCUSDT")
    last = probe(chrome, "lastCandle", "BTCUSDT")
    until(chrome, lambda: probe(chrome, "lastCandle", "BTCUSDT") != last,
          "the newest BTCUSDT candle to move with a tick")
    assert probe(chrome, "candleRequests", "BTCUSDT") == requests
    assert console_errors(chrome) == [], "the browser console has errors"


@needs_chromium
def test_the_page_fits_its_cards_at_every_width_and_the_chart_has_axes(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess], chrome: Any,
) -> None:
    worker = start_worker(CRYPTOFLOW_POLL_INTERVAL="0.5")
    wait_for(lambda: len(exchange.sim.served) >= 6, what="two polls")
    chrome.get(f"http://127.0.0.1:{worker.web_port}/")
    wait_for(lambda: shown_prices(chrome), what="three symbols with prices")
    wait_for(lambda: probe(chrome, "statisticsShown"), what="every statistic shown")
    for width in (420, 1000, 1400):
        check_layout(chrome, width)
    assert console_errors(chrome) == [], "the browser console has errors"


def check_layout(browser: Any, width: int, name: str = "dashboard") -> None:
    """At ``width`` px: nothing sticks out of its card, every chart has its axes, the
    prices highest on top, the times in order and apart; an opened card has its table
    beside its chart from 1000 px on (a third of the width), below it on narrower
    screens; a screenshot in tests/artifacts."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    until(browser, lambda: browser.execute_script("return innerWidth") == width,
          f"a {width} px wide page")
    until(browser, lambda: all(len(c["price"]) >= 2 and len(c["time"]) >= 2
                               for c in probe(browser, "chartAxes")),
          "price and time axes on every chart")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}-{width}.png"))
    assert probe(browser, "layoutProblems") == [], f"at {width} px"
    for chart in probe(browser, "chartAxes"):
        prices = [float(label["text"].replace(",", "")) for label in chart["price"]]
        tops = [label["box"]["top"] for label in chart["price"]]
        assert prices == sorted(prices, reverse=True), chart  # highest on top
        assert tops == sorted(tops), chart
        times = [label["text"] for label in chart["time"]]
        assert all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", t) for t in times), times
        lefts = [label["box"]["left"] for label in chart["time"]]
        rights = [label["box"]["right"] for label in chart["time"]]
        assert times == sorted(times) and lefts == sorted(lefts), chart
        assert all(r < left for r, left in zip(rights, lefts[1:], strict=False)), chart
    boxes = probe(browser, "openedBoxes")
    if boxes:
        chart, table = boxes["chart"], boxes["table"]
        if width >= 1000:  # beside: right of the chart, level with it, about a third wide
            assert table["left"] >= chart["right"] and table["top"] < chart["bottom"], boxes
            assert 0.55 < chart["width"] / (chart["width"] + table["width"]) < 0.75, boxes
        else:  # below the chart and its note, as wide
            assert table["top"] >= boxes["note"]["bottom"] - 0.5, boxes
            assert abs(table["left"] - chart["left"]) < 1, boxes


def every_price(worker: WorkerProcess) -> bool:
    status, body = get(worker, "/api/prices/latest/")
    return status == 200 and all(price["price"] for price in body)


def streams_shown(browser: Any, symbol: str) -> dict[str, Any] | None:
    """What the card shows of the streams, once it shows every part of it and trades
    (the rate is 0 until the first trades of the 1m window or of the stream count)."""
    shown = probe(browser, "marketShown", symbol)
    parts = (shown["rate"], shown["spread"], shown["book"], (shown["volume"] or [None])[0])
    if None in parts or NO_VALUE in parts or float(shown["rate"].replace(",", "")) == 0:
        return None
    return shown


def opened_note(browser: Any) -> str:
    """What the opened card says under its chart (which candles it shows)."""
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.CSS_SELECTOR, ".wide .note").text)


def switch(browser: Any, kind: str, value: str) -> None:
    """Press the opened card's ``kind`` (interval, range) button for ``value``."""
    from selenium.webdriver.common.by import By

    browser.find_element(
        By.CSS_SELECTOR, f'.wide [data-kind="{kind}"] [data-value="{value}"]').click()


def streamed_page(start_worker: Callable[..., WorkerProcess], chrome: Any) -> WorkerProcess:
    """A worker with streams on, once every symbol has a candle from its streamed trades
    and a price, and its page open in ``chrome``."""
    worker = start_worker(**STREAM_ENV)
    wait_for(lambda: all("volume" in (get(worker, f"/api/candles/{s}/")[1]["candles"] or [{}])[-1]
                         for s in SYMBOLS),
             what="a candle from the streamed trades of every symbol")
    wait_for(lambda: every_price(worker), what="a price of every symbol")
    chrome.get(f"http://127.0.0.1:{worker.web_port}/")
    return worker


@needs_chromium
def test_with_streams_the_cards_show_trades_volume_spread_and_the_recorded_candles(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess], chrome: Any,
) -> None:
    from selenium.webdriver.common.by import By

    worker = streamed_page(start_worker, chrome)
    symbols = SYMBOLS
    wait_for(lambda: shown_prices(chrome), what="three symbols with prices")
    for symbol in symbols:
        until(chrome, lambda symbol=symbol: charted_as_recorded(chrome, worker, symbol),
              f"one {symbol} candle on the chart per candle of /api/candles/")
        shown = until(chrome, lambda symbol=symbol: streams_shown(chrome, symbol),
                      f"trades/s, spread, bid / ask and volume of {symbol}")
        assert float(shown["rate"].replace(",", "")) > 0, shown
        assert shown["spread"].endswith(" bps"), shown
        assert re.fullmatch(r"[\d,.]+ / [\d,.]+", shown["book"]), shown
        assert float(shown["volume"][0].replace(",", "")) > 0, shown
    # each card's completeness from the coverage ledger; a click lists the gaps
    coverage = until(chrome, lambda: (text := chrome.find_element(
        By.CSS_SELECTOR, '.card[data-symbol="BTCUSDT"] .coverage').text).startswith(
        "every trade id since ") and text, "BTCUSDT's completeness")
    hours = get(worker, "/api/coverage/BTCUSDT/?limit=24")[1]["hours"]
    first = next(hour for hour in hours if hour["stored"])
    # since the first trade recorded, not since the start of its hour
    (oldest,) = get(worker, f"/api/trades/BTCUSDT/?start={first['hour']}&limit=1")[1]["trades"]
    assert oldest["trade_id"] == first["first_id"] and oldest["ts"] == first["first_ts"]
    assert coverage.endswith(first["first_ts"][11:19] + " UTC")
    chrome.find_element(By.CSS_SELECTOR, '.card[data-symbol="BTCUSDT"] .coverage').click()
    assert until(chrome, lambda: chrome.find_element(
        By.CSS_SELECTOR, '.card[data-symbol="BTCUSDT"] .gaps').text, "the gaps listed") == (
        "no gap in the last 24 h")
    assert not chrome.find_elements(By.CSS_SELECTOR, ".card.wide")  # the card stayed a card
    chrome.find_element(By.CSS_SELECTOR, '.card[data-symbol="BTCUSDT"] .coverage').click()
    # the newest candle moves with the trades of the event stream: no candle asked for
    requests = probe(chrome, "candleRequests", "ETHUSDT")
    last = probe(chrome, "lastCandle", "ETHUSDT")
    until(chrome, lambda: probe(chrome, "lastCandle", "ETHUSDT") != last,
          "the newest ETHUSDT candle to move with a trade")
    assert probe(chrome, "candleRequests", "ETHUSDT") == requests
    until(chrome, lambda: probe(chrome, "statisticsShown"), "every statistic shown")
    for width in (420, 1000, 1400):
        until(chrome, lambda: all(streams_shown(chrome, symbol) for symbol in symbols),
              "the streams' numbers on every card")
        check_layout(chrome, width, "streams")

    # a click opens the symbol across the page, with its interval and range switches
    chrome.find_element(By.CSS_SELECTOR, '.card[data-symbol="ETHUSDT"] svg').click()
    wide = until(chrome, lambda: chrome.find_elements(By.CSS_SELECTOR, ".card.wide"),
                 "the opened card")[0]
    assert wide.get_attribute("data-symbol") == "ETHUSDT"
    for interval, span in (("5m", timedelta(hours=2)), ("1h", timedelta(days=7)),
                           ("1m", timedelta(days=7))):
        switch(chrome, "interval", interval)
        if span > timedelta(hours=2):
            switch(chrome, "range", "7d")
        loaded = f" of {interval} in {'7 d' if span > timedelta(hours=2) else '2 h'}"
        until(chrome, lambda loaded=loaded: loaded in opened_note(chrome), f"the candles{loaded}")
        until(chrome, lambda interval=interval, span=span: charted_as_recorded(
            chrome, worker, "ETHUSDT", interval, span),
            f"one {interval} candle per candle of /api/candles/")
    assert "the newest 2,016 of 10,080" in opened_note(chrome)
    switch(chrome, "range", "2h")
    until(chrome, lambda: " of 1m in 2 h" in opened_note(chrome), "the candles of 1m in 2 h")
    until(chrome, lambda: charted_as_recorded(chrome, worker, "ETHUSDT"),
          "the 1m candles of 2 h again")
    for width in (420, 1000, 1400):
        until(chrome, lambda: streams_shown(chrome, "ETHUSDT"), "the streams' numbers")
        check_layout(chrome, width, "opened")
    chrome.find_element(By.CSS_SELECTOR, ".wide .close").click()
    until(chrome, lambda: not chrome.find_elements(By.CSS_SELECTOR, ".card.wide"),
          "the card closed")
    assert console_errors(chrome) == [], "the browser console has errors"


def source_line(worker: WorkerProcess, symbol: str, poll: float) -> str:
    """The line under a symbol's statistics saying where each window's prices come from
    (its price_source in /api/stats/; none where no window has one)."""
    windows: dict[str, list[str]] = {}
    for window in ("1m", "5m", "1h"):
        body = next(b for b in get(worker, f"/api/stats/?window={window}")[1]
                    if b["symbol"] == symbol)
        if body.get("price_source"):
            windows.setdefault(body["price_source"], []).append(window)
    names = {"trades": "the streamed trades", "ticks": f"the {poll:g}-second price polls"}
    if len(windows) <= 1:
        return "".join(f"from {names[source]}" for source in windows)
    return "; ".join(f"{', '.join(ws)} from {names[source]}" for source, ws in windows.items())


def source_shown(browser: Any, worker: WorkerProcess, symbol: str, poll: float) -> bool:
    """Whether a card says where its statistics come from as /api/stats/ does."""
    shown = browser.execute_script(
        "const line = document.querySelector(`.card[data-symbol='${arguments[0]}'] .from`);"
        "return line.hidden ? '' : line.textContent", symbol)
    return bool(shown == source_line(worker, symbol, poll))


def tap(browser: Any, x: float, y: float) -> None:
    """A touch screen's tap at (x, y) of the page."""
    for kind, points in (("touchStart", [{"x": x, "y": y}]), ("touchEnd", [])):
        browser.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


def hover_fields(browser: Any, candle: dict[str, Any]) -> dict[str, str]:
    """What a hover card shows of a candle of /api/candles/, by the page's own formats."""
    shown = {name: browser.execute_script("return cf.formatPrice(arguments[0])", candle[name])
             for name in ("open", "high", "low", "close")}
    if isinstance(candle.get("volume"), float | int):
        shown["volume"] = browser.execute_script("return cf.formatAmount(arguments[0])",
                                                 candle["volume"])
    if isinstance(candle.get("trades"), int):
        shown["trades"] = f"{candle['trades']:,}"
    return shown


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def shown_number(text: str) -> float:
    return float(text.replace(",", ""))


def price_problems(chart: dict[str, Any]) -> tuple[str | None, str | None]:
    """How a card's headline price (of ``chartBounds``) disagrees with its chart's price
    axis (by more than half a shown step: the rounding), and how with its top of book,
    bid to ask, by more than one price tick (the smallest decimal step of the shown
    prices); (None, None) where it agrees (and not yet, as the book's, before all show)."""
    symbol, price_text, book = chart["symbol"], chart["price"], chart["book"]
    if NO_VALUE in (price_text, book or NO_VALUE) or chart["lo"] is None:
        return None, f"{symbol}: price, book or chart not shown yet: {chart}"
    price, tick = shown_number(price_text), 10.0 ** -len(price_text.partition(".")[2])
    bid, ask = map(shown_number, book.split(" / "))
    axis = None if chart["lo"] - tick / 2 <= price <= chart["hi"] + tick / 2 else (
        f"{symbol}: {price_text} off its price axis {chart['lo']}..{chart['hi']}")
    inside = None if bid - tick <= price <= ask + tick else (
        f"{symbol}: {price_text} off its book {book} (tick {tick:g})")
    return axis, inside


def agreeing(browser: Any, what: str, timeout: float = 20) -> None:
    """Every card's headline price on its chart's price axis at every look, and between
    its bid and ask (a tick either way) at some look: the price comes with the trades
    and ticks, the book with book events twice a second, so a look can catch one of
    them a trade behind the other."""
    from selenium.common.exceptions import TimeoutException

    behind: dict[str, str | None] = {}

    def agree() -> bool:
        for chart in probe(browser, "chartBounds"):
            axis, book = price_problems(chart)
            assert axis is None, f"{what}: {axis}"
            if behind.get(chart["symbol"], "") is not None:
                behind[chart["symbol"]] = book
        return len(behind) == 3 and not any(behind.values())

    try:
        until(browser, agree, what, timeout)
    except TimeoutException:  # say which disagreed
        pytest.fail(f"{what}: {behind}")


@needs_chromium
def test_with_streams_the_price_agrees_with_chart_and_book_a_young_chart_starts_with_it(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess], chrome: Any,
) -> None:
    """The headline price lies on its chart's price axis and between bid and ask (a tick
    either way) on every card at every width; a recording younger than the chart's range
    is drawn from its first candle on, saying since when; a candle's hover card shows the
    recorded candle; the opened card sets its table beside its chart on a wide screen."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    worker = streamed_page(start_worker, chrome)
    symbols = SYMBOLS
    until(chrome, lambda: all(streams_shown(chrome, symbol) for symbol in symbols),
          "the streams' numbers on every card")
    # the recording is minutes old: each chart starts with its first candle, not 2 h ago
    for symbol in symbols:
        until(chrome, lambda symbol=symbol: charted_as_recorded(chrome, worker, symbol),
              f"one {symbol} candle on the chart per candle of /api/candles/")
    for chart in probe(chrome, "chartBounds"):
        first = api_candle_starts(worker, chart["symbol"], "1m", timedelta(hours=2))[0]
        assert datetime.fromisoformat(first) > datetime.now(UTC) - timedelta(minutes=30)
        assert at(chart["t0"]) == at(first) == at(chart["first"]), chart
        assert f"recording since {first[11:16]} UTC" in chart["note"], chart
        assert min(chart["times"]) >= first[11:16], chart
    # under each table, where its prices come from, as /api/stats/ says (or nothing)
    for symbol in symbols:
        until(chrome, lambda symbol=symbol: source_shown(chrome, worker, symbol, 0.5),
              f"where {symbol}'s statistics come from")
    for width in (420, 1000, 1400):
        check_layout(chrome, width, "agree")
        agreeing(chrome, f"the prices agreeing at {width} px")

    # a candle's hover card: with the market paused, the newest candle stays as recorded
    exchange.sim.quiet(40)
    card = '.card[data-symbol="BTCUSDT"]'

    def hover_as_recorded() -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The pointer over the newest BTCUSDT candle: its hover card and that candle of
        /api/candles/, once the card shows what the API has."""
        try:
            newest = chrome.find_elements(By.CSS_SELECTOR, f"{card} svg .candle")[-1]
            ActionChains(chrome).move_to_element(newest).perform()
        except StaleElementReferenceException:  # drawn again meanwhile
            return None
        shown = probe(chrome, "hoverShown", "BTCUSDT")
        if not shown:
            return None
        candle = get(worker, f"/api/candles/BTCUSDT/?limit=1&start={shown['start']}")[1][
            "candles"][0]
        return (shown, candle) if shown["fields"] == hover_fields(chrome, candle) else None

    shown, candle = until(chrome, hover_as_recorded, "the newest candle's hover card as recorded")
    assert at(shown["start"]) == at(candle["start"]), (shown, candle)
    assert set(shown["fields"]) == {"open", "high", "low", "close", "volume", "trades"}, shown
    assert shown["inside"], shown
    chrome.save_screenshot(str(ARTIFACTS / "hover-1400.png"))
    assert candle["start"][11:16] in shown["text"] and "UTC" in shown["text"], shown
    assert not chrome.find_elements(By.CSS_SELECTOR, f"{card} svg title")  # no native tooltip
    assert probe(chrome, "layoutProblems") == []
    ActionChains(chrome).move_to_element(chrome.find_element(By.CSS_SELECTOR, "header")).perform()
    until(chrome, lambda: probe(chrome, "hoverShown", "BTCUSDT") is None, "the hover card gone")
    # from the keyboard: an arrow key on the focused card shows the newest candle's
    chrome.find_element(By.CSS_SELECTOR, card).send_keys(Keys.ARROW_LEFT)
    keyed = until(chrome, lambda: probe(chrome, "hoverShown", "BTCUSDT"), "a keyed hover card")
    assert at(keyed["start"]) == at(candle["start"]) and keyed["inside"], keyed
    chrome.find_element(By.CSS_SELECTOR, card).send_keys(Keys.ESCAPE)
    until(chrome, lambda: probe(chrome, "hoverShown", "BTCUSDT") is None, "the keyed card gone")

    # the opened card: its table beside its chart on a wide screen, below it on a narrow
    chrome.find_element(By.CSS_SELECTOR, '.card[data-symbol="ETHUSDT"] svg').click()
    until(chrome, lambda: chrome.find_elements(By.CSS_SELECTOR, ".card.wide"), "the opened card")
    for width in (1400, 1000, 420):
        check_layout(chrome, width, "opened-young")  # beside at 1400 and 1000, below at 420
    # a tap on a candle shows its card until a tap elsewhere
    check_layout(chrome, 1400, "opened-young")
    middle = probe(chrome, "newestCandleMiddle", "ETHUSDT")
    tap(chrome, middle["x"], middle["y"])
    tapped = until(chrome, lambda: probe(chrome, "hoverShown", "ETHUSDT"), "a tapped hover card")
    assert at(tapped["start"]) == at(middle["start"]) and tapped["inside"], tapped
    header = chrome.find_element(By.CSS_SELECTOR, "header").rect
    tap(chrome, header["x"] + 5, header["y"] + 5)
    until(chrome, lambda: probe(chrome, "hoverShown", "ETHUSDT") is None, "the tapped card gone")
    # 1h candles of 7 d: the hours of the recording, from its first
    switch(chrome, "interval", "1h")
    switch(chrome, "range", "7d")
    until(chrome, lambda: " of 1h in 7 d" in opened_note(chrome), "the candles of 1h in 7 d")
    hours = api_candle_starts(worker, "ETHUSDT", "1h", timedelta(days=7))
    opened = until(chrome, lambda: next(
        (c for c in probe(chrome, "chartBounds") if c["symbol"] == "ETHUSDT"
         and at(c["first"]) == at(hours[0])), None), "the opened chart of 1h candles")
    assert at(opened["t0"]) == at(hours[0]), opened
    # the words to the minute: the first 1m candle's start, within the first 1h candle
    first = api_candle_starts(worker, "ETHUSDT", "1m", timedelta(hours=2))[0]
    assert at(hours[0]) <= at(first) < at(hours[0]) + timedelta(hours=1)
    assert f"recording since {first[11:16]} UTC" in opened_note(chrome)
    check_layout(chrome, 1400, "opened-young-1h")
    assert console_errors(chrome) == [], "the browser console has errors"


@needs_chromium
def test_a_symbol_streamed_without_a_tick_topic_shows_its_last_trade_and_its_candles(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess], chrome: Any,
) -> None:
    """SOLUSDT is streamed and not polled: /api/prices/latest/ knows only the other two,
    so its card comes with its first trades event and shows that event's last price."""
    from selenium.webdriver.common.by import By

    worker = start_worker(**STREAM_ENV, CRYPTOFLOW_TICK_SYMBOLS="BTCUSDT,ETHUSDT")
    wait_for(lambda: (get(worker, "/api/candles/SOLUSDT/")[1]["candles"] or [{}])[-1].get(
        "source") == "trades", what="a SOLUSDT candle from its trades")
    wait_for(lambda: every_price(worker), what="a price of both polled symbols")
    chrome.get(f"http://127.0.0.1:{worker.web_port}/")

    def sol_price() -> str | None:
        cards = chrome.find_elements(By.CSS_SELECTOR, '.card[data-symbol="SOLUSDT"] .price')
        text = cards[0].text if cards else NO_VALUE
        return None if text == NO_VALUE else text

    shown = until(chrome, sol_price, "a price on the SOLUSDT card")
    value = float(shown.replace(",", ""))  # as the page rounds it
    traded = [float(trade["p"]) for trade in exchange.sim.agg_trades("SOLUSDT")]
    assert any(abs(price - value) <= 1e-4 * price for price in traded), (shown, traded[-5:])
    until(chrome, lambda: charted_as_recorded(chrome, worker, "SOLUSDT"),
          "one SOLUSDT candle on the chart per candle of /api/candles/")
    assert console_errors(chrome) == [], "the browser console has errors"


@needs_chromium
def test_a_symbol_another_worker_streams_shows_its_1m_rate_polled_book_and_fetched_candles(
    exchange: SimExchangeThread, start_worker: Callable[..., WorkerProcess], chrome: Any,
) -> None:
    first = start_worker("first", **STREAM_ENV)
    second = start_worker("second", **STREAM_ENV)
    spread = wait_for(lambda: (s := streamed_by(first)) and each_symbol_once(s, 2) and s,
                      timeout=60, what="the symbols spread over two workers")
    elsewhere = spread[f"http://127.0.0.1:{second.web_port}"]
    assert elsewhere, spread
    symbol = elsewhere[0]  # its trades and book events go to the second worker's pages
    wait_for(lambda: every_price(first), what="a price of every symbol")
    chrome.get(f"http://127.0.0.1:{first.web_port}/")
    wait_for(lambda: shown_prices(chrome), what="three symbols with prices")
    until(chrome, lambda: streams_shown(chrome, symbol), f"trades/s, spread and volume of {symbol}")
    rate_source = chrome.execute_script(
        f'return document.querySelector(\'.card[data-symbol="{symbol}"] .market span\').title')
    assert rate_source.startswith("from the 1m window"), rate_source
    until(chrome, lambda: charted_as_recorded(chrome, first, symbol),
          f"one {symbol} candle on the chart per candle of /api/candles/")
    requests, last = probe(chrome, "candleRequests", symbol), probe(chrome, "lastCandle", symbol)
    until(chrome, lambda: probe(chrome, "lastCandle", symbol) != last,
          f"the newest {symbol} candle to move")
    assert probe(chrome, "candleRequests", symbol) > requests  # asked for, as no event moves it
    # the top of book is polled with the statistics (a symbol with book events: once)
    until(chrome, lambda: probe(chrome, "candleRequests", symbol, "book") >= 2,
          f"the {symbol} book polled again")
    # while the second worker joins, the API may answer 503 (logged as a network error)
    assert [e for e in console_errors(chrome) if e["source"] == "javascript"] == []


@needs_chromium
def test_offline_the_page_says_why_it_is_empty_and_what_to_do(
    start_worker: Callable[..., WorkerProcess], chrome: Any,
) -> None:
    """Neither the exchange's REST nor its streams answer: the page says the exchange is
    unreachable since when, that there is no data yet, and that make demo runs offline."""
    from selenium.webdriver.common.by import By

    worker = start_worker(CRYPTOFLOW_BINANCE_URL=f"http://127.0.0.1:{free_port()}",
                          CRYPTOFLOW_BINANCE_WS_URL=f"ws://127.0.0.1:{free_port()}",
                          CRYPTOFLOW_STREAMS="trades", CRYPTOFLOW_POLL_INTERVAL="0.5")
    since = wait_for(lambda: get(worker, "/api/health/")[1]["exchange"]["unreachable_since"],
                     timeout=30, what="the exchange unreachable")
    chrome.get(f"http://127.0.0.1:{worker.web_port}/")
    notice = until(chrome, lambda: chrome.find_element(By.ID, "notice").text,
                   "the notice of why the page is empty")
    assert notice.startswith("Binance (127.0.0.1:") and "unreachable since " in notice
    assert since.replace("T", " ")[:19] in notice
    assert notice.endswith("no data yet; make demo runs offline, against its simulated exchange")
    # the one error is the unhealthy worker's 503 to /api/health/, which the page reads
    assert [e for e in console_errors(chrome)
            if not (e["source"] == "network" and "/api/health/ " in e["message"])] == []
