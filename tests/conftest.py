"""Hypothesis without per-example deadlines: the suite runs its integration tests side by
side on two cores, so an example's time says how busy the machine is, not whether the
code is right (a timed assertion in disguise). Speed lives in bench/."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("cryptoflow", deadline=None)
settings.load_profile("cryptoflow")
