"""The app's own topics are its deployment's; the symbol topics are everyone's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SHOW_TOPICS = """
import json
import cryptoflow
from cryptoflow.broker.topics import alerts_topic
read = {name for agent in cryptoflow.app.agents.values() for name in agent.channel.topics}
print(json.dumps(sorted(read | {alerts_topic.get_topic_name()})))
"""


def test_every_topic_the_app_reads_or_writes_is_prefixed_or_a_symbol_topic(
    tmp_path: Path,
) -> None:
    """Imported as the worker is, with another app id: nothing keeps a fixed name."""
    shown = subprocess.run(
        [sys.executable, "-c", SHOW_TOPICS],
        env={"PATH": "/usr/bin:/bin", "CRYPTOFLOW_APP_ID": "demo",
             "CRYPTOFLOW_SYMBOLS": "BTCUSDT,ETHBTC"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(shown.stdout.splitlines()[-1]) == [
        "btc", "demo-alerts", "demo-book", "demo-deadletter", "demo-ticks", "demo-trades",
        "ethbtc"]
