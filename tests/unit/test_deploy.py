"""Deployment files, checked statically (no Docker engine here): the compose file
against the Compose Specification, the Dockerfile with hadolint, and every variable,
port and metric they name against the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from configparser import ConfigParser
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from cryptoflow.settings import Settings
from tests.dashboard_metrics import DASHBOARD, dashboard_metrics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
READ_BY_SETTINGS = {spec.metadata["env"]: spec for spec in fields(Settings)}
OURS = (  # as exposed: counters end in _total, the histogram is named by its family
    "cryptoflow_ticks_fetched_total", "cryptoflow_fetch_errors_total", "cryptoflow_price",
    "cryptoflow_last_poll_success_timestamp_seconds", "cryptoflow_ticks_persisted_total",
    "cryptoflow_duplicates_skipped_total", "cryptoflow_batch_write_seconds",
    "cryptoflow_dead_letters_total", "cryptoflow_job_runs_total",
)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def bin_path(tool: str) -> str:
    path = Path(sys.executable).parent / tool
    if not path.exists():
        pytest.fail(f"{tool} is missing: install the dev extra (pip install -e '.[dev]')")
    return str(path)


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [bin_path("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = subprocess.run([bin_path("hadolint"), str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_worker_can_be_scaled_and_waits_for_healthy_dependencies() -> None:
    services = compose()["services"]
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["depends_on"] == {"kafka": {"condition": "service_healthy"},
                                    "mongo": {"condition": "service_healthy"}}
    assert all("healthcheck" in service for service in services.values())
    assert all(":" in service["image"] and not service["image"].endswith(":latest")
               for service in services.values() if "image" in service)


def test_every_variable_the_deployment_sets_is_read_by_the_settings() -> None:
    worker_env = compose()["services"]["worker"]["environment"]
    example = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                   if line and not line.startswith("#"))
    dockerfile_env = re.findall(r"(CRYPTOFLOW_[A-Z_]+)=", DOCKERFILE.read_text())
    example_env = [name for name in example if name.startswith("CRYPTOFLOW_")]
    for name in [*worker_env, *dockerfile_env, *example_env]:
        assert name in READ_BY_SETTINGS, f"{name} is not a setting"
    # ... and the reverse: .env.example lists every setting, with its default
    for name, spec in READ_BY_SETTINGS.items():
        assert example.get(name) == spec.metadata["default"], name
    assert Settings.from_env({**example, **worker_env}, env_file=None).web_port == 6066


def test_ports_and_versions_agree_with_the_code() -> None:
    dockerfile = DOCKERFILE.read_text()
    assert "EXPOSE 6066" in dockerfile
    assert "127.0.0.1:6066/api/health/" in dockerfile
    assert compose()["services"]["worker"]["expose"] == ["6066"]
    assert 'CMD ["faust", "-A", "cryptoflow", "worker", "-l", "info"]' in dockerfile
    version = ConfigParser()
    version.read(ROOT / "setup.cfg")
    assert f"cryptoflow=={version['metadata']['version']}" in dockerfile
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["dns_sd_configs"][0] == {
        "names": ["worker"], "type": "A", "port": 6066}


def test_the_dashboard_loads_and_queries_only_metrics_the_worker_exports() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "cryptoflow"
    assert all(panel["datasource"]["uid"] == "prometheus" for panel in board["panels"])
    faust_own = {"cryptoflow_topic_partition_end_offset",
                 "cryptoflow_topic_partition_offset_commited"}
    assert dashboard_metrics() == set(OURS) | faust_own


def test_no_secret_is_committed() -> None:
    example = ENV_EXAMPLE.read_text()
    assert re.search(r"^CRYPTOFLOW_KAFKA_SASL_PASSWORD=$", example, re.MULTILINE)
    assert re.search(r"^GRAFANA_ADMIN_PASSWORD=$", example, re.MULTILINE)
    grafana = compose()["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
