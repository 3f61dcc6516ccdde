"""Hypothesis without per-example deadlines: the suite runs its integration tests side by
side on two cores, so an example's time says how busy the machine is, not whether the
code is right (a timed assertion in disguise). Speed lives in bench/."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import settings

from cryptoflow.devstack.simexchange import SimExchange, SimExchangeThread

settings.register_profile("cryptoflow", deadline=None)
settings.load_profile("cryptoflow")


def stopped_exchange(symbol: str, invalid: int, **options: Any) -> SimExchange:
    """A simulated exchange that ran until ``invalid`` of ``symbol``'s trades were marked
    invalid (the next ones it made), then stopped: its history stays as it is while the
    tests read it. ``options`` go to ``SimExchange`` (seed, trade_rate, history...)."""
    with SimExchangeThread(**options) as running:
        running.sim.mark_invalid(symbol, invalid)
        deadline = time.monotonic() + 20
        while len(running.sim.invalid_ids(symbol)) < invalid and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(running.sim.invalid_ids(symbol)) == invalid
    return running.sim
