"""Local development stays out of the production path: a worker on Kafka never imports
the local stack's code (the Tansu corrections, the simulated exchange)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import cryptoflow
app = cryptoflow.app
transport = app._new_transport()
print(type(transport).__name__)
print(sorted(m for m in sys.modules if m.startswith("cryptoflow.devstack")))
"""


def run(flavor: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
        check=True, env={"PATH": "/usr/bin:/bin", "CRYPTOFLOW_BROKER_FLAVOR": flavor})
    return done.stdout.splitlines()


def test_a_worker_on_kafka_imports_no_local_development_code() -> None:
    assert run("KAFKA") == ["CryptoflowTransport", "[]"]


def test_the_local_broker_gets_its_corrections() -> None:
    transport, modules = run("TANSU")
    assert transport == "TansuTransport"
    assert "cryptoflow.devstack.tansu" in modules
