"""The metric names the Grafana dashboard queries, shared by the static and live tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy/grafana/dashboards/cryptoflow.json"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def dashboard_metrics(path: Path = DASHBOARD) -> frozenset[str]:
    """Every ``cryptoflow_*`` series a panel's expression names (histograms by family)."""
    names = set()
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\bcryptoflow_[a-z0-9_]+", target["expr"]):
                for suffix in HISTOGRAM_SUFFIXES:
                    name = name.removesuffix(suffix)
                names.add(name)
    return frozenset(names)
