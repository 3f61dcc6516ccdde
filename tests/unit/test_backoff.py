"""Backoff: full jitter inside a doubling ceiling that stops at the cap."""

from __future__ import annotations

import random
from itertools import islice

from cryptoflow.backoff import Backoff


def test_ceilings_double_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=10.0)
    assert [backoff.ceiling(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.ceiling(10_000) == 10.0


def test_every_delay_lies_within_its_ceiling_and_they_vary() -> None:
    backoff = Backoff(base=0.1, cap=5.0)
    delays = list(islice(backoff.delays(random.Random(7)), 200))
    assert all(0 <= d <= backoff.ceiling(n) for n, d in enumerate(delays))
    assert len(set(delays)) == len(delays)
    assert max(delays[20:]) > 2.5  # late retries reach well towards the cap
