"""Exact sums of Binance's decimal numbers. Pure.

Binance sends prices and quantities as decimal strings of at most 8 places; its klines'
volume and quote volume are their exact sums. Adding them as floats drifts from those in
the last digits and makes a total depend on how its terms were grouped (batches, windows,
minutes of an hour). A float parsed from a decimal of at most 15 significant digits
prints back as that decimal (``repr`` is the shortest round trip), so ``decimal`` recovers
the number Binance sent, and sums of those in ``EXACT`` are exact whatever the grouping.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Context, Decimal

ZERO = Decimal(0)
# Wide enough that no sum or product of Binance's numbers is ever rounded (a quote volume
# of 10^15 with 16 decimal places has 31 digits).
EXACT = Context(prec=64)


def decimal(value: float) -> Decimal:
    """The decimal a float was parsed from (for at most 15 significant digits)."""
    return Decimal(repr(value))


def exact_sum(values: Iterable[float]) -> float:
    """The sum of the decimals the floats were parsed from, rounded once to a float."""
    total = ZERO
    for value in values:
        total = EXACT.add(total, decimal(value))
    return float(total)
