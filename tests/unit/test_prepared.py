"""Prepared answers: kept bytes, forgotten on a write for their symbol, a rebalance,
or when their window may be cleaned up; owners kept until the next rebalance."""

from __future__ import annotations

import json
from typing import Any

from faust.utils import json as faust_json
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.web.prepared import (
    AnswersSensor,
    Made,
    PreparedAnswers,
    encode,
    json_list,
    table_key_symbol,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Maker:
    """Counts how often the answer was computed."""

    def __init__(self, price: float, until: float | None = 2000.0) -> None:
        self.price, self.until, self.calls = price, until, 0

    def __call__(self) -> Made:
        self.calls += 1
        return {"symbol": "BTCUSDT", "price": self.price}, self.until


def keeping(clock: Clock | None = None) -> PreparedAnswers:
    answers = PreparedAnswers(clock or Clock())
    answers.resume()
    return answers


def test_a_kept_answer_is_not_computed_again() -> None:
    answers, make = keeping(), Maker(1.5)
    first = answers.get(("latest", "BTCUSDT", ""), make)
    assert answers.get(("latest", "BTCUSDT", ""), make) == first == encode(make()[0])
    assert make.calls == 2  # once by get, once above


def test_a_write_for_a_symbol_forgets_its_answers_only() -> None:
    answers = keeping()
    btc, eth = Maker(1.0), Maker(2.0)
    for window in ("1m", "5m"):
        answers.get(("stats", "BTCUSDT", window), btc)
    answers.get(("stats", "ETHUSDT", "1m"), eth)
    AnswersSensor(answers).on_table_set(object(), ("BTCUSDT", (0.0, 59.9)), 1)  # type: ignore[arg-type]  # the sensor never looks at the table
    for window in ("1m", "5m"):
        answers.get(("stats", "BTCUSDT", window), btc)
    answers.get(("stats", "ETHUSDT", "1m"), eth)
    assert (btc.calls, eth.calls) == (4, 1)


def test_a_deleted_key_forgets_too() -> None:
    answers, make = keeping(), Maker(1.0)
    answers.get(("latest", "BTCUSDT", ""), make)
    AnswersSensor(answers).on_table_del(object(), "BTCUSDT")  # type: ignore[arg-type]  # the sensor never looks at the table
    answers.get(("latest", "BTCUSDT", ""), make)
    assert make.calls == 2


def test_an_answer_is_kept_only_until_its_window_may_be_cleaned_up() -> None:
    clock = Clock()
    answers, make = keeping(clock), Maker(1.0, until=1010.0)
    answers.get(("stats", "BTCUSDT", "1m"), make)
    clock.now = 1009.9
    answers.get(("stats", "BTCUSDT", "1m"), make)
    assert make.calls == 1
    clock.now = 1010.0
    answers.get(("stats", "BTCUSDT", "1m"), make)
    answers.get(("stats", "BTCUSDT", "1m"), make)  # past its time: never kept again
    assert make.calls == 3


def test_answers_that_say_so_are_never_kept() -> None:
    answers, make = keeping(), Maker(1.0, until=None)
    answers.get(("stats", "BTCUSDT", "1m"), make)
    answers.get(("stats", "BTCUSDT", "1m"), make)
    assert make.calls == 2


def test_nothing_is_kept_before_recovery_nor_from_a_rebalance_until_it_completes() -> None:
    answers, make = PreparedAnswers(Clock()), Maker(1.0)
    owners: list[str] = []

    def look_up(table: str, symbol: str) -> str:
        owners.append("looked up")
        return "worker-1"

    answers.get(("latest", "BTCUSDT", ""), make)
    answers.owner("latest-ticks", "BTCUSDT", look_up)
    answers.get(("latest", "BTCUSDT", ""), make)
    answers.owner("latest-ticks", "BTCUSDT", look_up)
    assert (make.calls, len(owners)) == (2, 2)

    answers.resume()  # recovery complete
    for _ in range(2):
        answers.get(("latest", "BTCUSDT", ""), make)
        answers.owner("latest-ticks", "BTCUSDT", look_up)
    assert (make.calls, len(owners)) == (3, 3)

    assert AnswersSensor(answers).on_rebalance_start(object()) == {}  # type: ignore[arg-type]  # the sensor never looks at the app
    for _ in range(2):
        answers.get(("latest", "BTCUSDT", ""), make)
        answers.owner("latest-ticks", "BTCUSDT", look_up)
    assert (make.calls, len(owners)) == (5, 5)


def test_table_keys_name_their_symbol() -> None:
    assert table_key_symbol("BTCUSDT") == "BTCUSDT"
    assert table_key_symbol(("BTCUSDT", (60.0, 119.9))) == "BTCUSDT"


# Integers within 64 bits: the answers' are counts, and orjson (faust's JSON when it is
# installed, as with the bench extra) refuses wider ones whichever way they are encoded.
answers_values = st.dictionaries(
    st.text(max_size=8),
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats()
    | st.text(max_size=8),
    max_size=4,
)


@given(st.lists(answers_values, max_size=4))
def test_a_list_of_encoded_answers_is_the_encoding_of_the_list(
    values: list[dict[str, Any]],
) -> None:
    joined = json_list([encode(value) for value in values])
    assert joined == encode(values)
    assert json.loads(joined) == json.loads(encode(values))


def test_encode_is_what_faust_sends_with_non_finite_numbers_as_null() -> None:
    value = {"symbol": "BTCUSDT", "mean": float("inf"), "count": 3}
    sent = faust_json.dumps({"symbol": "BTCUSDT", "mean": None, "count": 3})
    assert encode(value) == (sent if isinstance(sent, bytes) else sent.encode())
