"""Exponential backoff with full jitter and a cap, shared by every retrying caller.

One helper, so the exchange client and the database writer back off the same
way: the n-th delay is uniform in [0, min(cap, base * 2**n)] ("full jitter",
which spreads the retries of many workers instead of synchronising them).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delays in seconds for successive retries of one failing operation."""

    base: float = 0.2
    cap: float = 30.0
    factor: float = 2.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay allowed before retry number ``attempt`` (0-based)."""
        return min(self.cap, self.base * self.factor ** min(attempt, 64))

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """An endless series of jittered delays, each within ``ceiling(attempt)``."""
        uniform = (rng or random.Random()).uniform  # noqa: S311 (jitter, not crypto)
        attempt = 0
        while True:
            yield uniform(0, self.ceiling(attempt))
            attempt += 1
