"""The worker's INFO log: the libraries' progress is DEBUG, everything else untouched."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from cryptoflow.logs import FrameworkChatter, quiet_frameworks


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A root-like logger at ``INFO`` with one handler, quietened."""
    out = io.StringIO()
    root = logging.Logger("root-under-test", logging.INFO)
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    quiet_frameworks(root)
    quiet_frameworks(root)  # once is enough: a second call adds nothing
    assert sum(isinstance(f, FrameworkChatter) for f in handler.filters) == 1
    yield root, out


def emit(root: logging.Logger, name: str, level: int, message: str) -> None:
    record = logging.LogRecord(name, level, __file__, 1, message, None, None)
    for handler in root.handlers:
        handler.handle(record)


@pytest.mark.parametrize(("name", "level", "message", "shown"), [
    ("faust.transport.producer", logging.INFO, "[^--Producer]: Creating topic 'x'", False),
    ("faust.transport.consumer", logging.INFO, "+Final Subscription----+", False),
    ("mode.services", logging.INFO, "[^---Agent: x]: Starting...", False),
    ("aiokafka.consumer.subscription_state", logging.INFO, "Updating subscribed topics", False),
    ("cryptoflow.devstack.tansu", logging.INFO, "[^--TansuConsumer]: Starting...", False),
    ("faust.worker", logging.INFO, "[^Worker]: Ready", True),
    ("faust.transport.consumer", logging.WARNING, "[^--Consumer]: wait too long", True),
    ("aiokafka.conn", logging.ERROR, "Unable to connect", True),
    ("cryptoflow.app", logging.INFO, "cryptoflow: dashboard at http://127.0.0.1:6066/", True),
    ("cryptoflow.sources.streams", logging.INFO, "Binance stream binance-1: connected", True),
])
def test_only_the_libraries_info_progress_leaves_the_info_log(
    logged: tuple[logging.Logger, io.StringIO], name: str, level: int, message: str,
    shown: bool,
) -> None:
    root, out = logged
    emit(root, name, level, message)
    assert (message in out.getvalue()) == shown


def test_with_debug_the_progress_is_shown_as_debug(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    root, out = logged
    root.setLevel(logging.DEBUG)
    emit(root, "faust.transport.producer", logging.INFO, "[^--Producer]: Creating topic 'x'")
    assert out.getvalue() == "DEBUG faust.transport.producer [^--Producer]: Creating topic 'x'\n"
