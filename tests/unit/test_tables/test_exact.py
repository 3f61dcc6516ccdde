"""The decimals behind Binance's floats, recovered exactly."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.tables.exact import decimal, exact_sum

# Binance's decimals: up to 15 significant digits, at most 8 of them after the point
decimals = st.builds(lambda units, places: Decimal(units).scaleb(-places),
                     st.integers(1, 10**15 - 1), st.integers(0, 8))


@given(decimals)
def test_a_float_parsed_from_a_decimal_gives_that_decimal_back(value: Decimal) -> None:
    assert decimal(float(str(value))) == value


@given(st.lists(decimals, max_size=50))
def test_a_sum_is_the_exact_sum_rounded_once(values: list[Decimal]) -> None:
    assert exact_sum(float(str(v)) for v in values) == float(sum(values, Decimal(0)))


def test_tenths_add_up_to_tenths() -> None:
    assert exact_sum([0.1, 0.2]) == 0.3  # as floats: 0.30000000000000004
