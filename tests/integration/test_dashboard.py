"""The live dashboard: its event stream on real parts, and the page in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cryptoflow.devstack.simexchange import SimExchangeThread
from tests.integration.conftest import READY_LINE, WorkerProcess, get, served, wait_for

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
NO_VALUE = "\u2013"  # the en dash the page shows where it has no number yet


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
        "host": exchange.url.removeprefix("http://"), "simulated": True}
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

# layoutProblems(), chartAxes(), statisticsShown(): run in the page
PROBES = (Path(__file__).parent / "dashboard_probes.js").read_text()


def probe(browser: Any, function: str) -> Any:
    return browser.execute_script(f"{PROBES}\nreturn {function}();")


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
    wait_for(lambda: (shown_prices(chrome) or first)["BTCUSDT"] != first["BTCUSDT"], timeout=10,
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
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (420, 1000, 1400):
        chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
        wait_for(lambda width=width: chrome.execute_script("return innerWidth") == width,
                 what=f"a {width} px wide page")
        wait_for(lambda: all(len(c["price"]) >= 2 and len(c["time"]) >= 2
                             for c in probe(chrome, "chartAxes")),
                 what="price and time axes on every chart")
        chrome.save_screenshot(str(ARTIFACTS / f"dashboard-{width}.png"))
        assert probe(chrome, "layoutProblems") == [], f"at {width} px"
        for chart in probe(chrome, "chartAxes"):
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
    assert console_errors(chrome) == [], "the browser console has errors"
