"""The history API's paged answers: format, range, next page, CSV; and the interval."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.exceptions import ApiError
from cryptoflow.web import api, paging

NOW = datetime(2026, 11, 24, 12, 0, 42, 500000, tzinfo=UTC)
SPAN = timedelta(minutes=500)


def error_of(call: object, *args: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)  # type: ignore[operator]  # any callable the test hands in
    return caught.value


def test_json_unless_csv_is_asked_for_by_format_or_accept() -> None:
    assert paging.parse_format({}, "") == "json"
    assert paging.parse_format({}, "application/json") == "json"
    assert paging.parse_format({}, "text/csv") == "csv"
    assert paging.parse_format({}, "Text/CSV;q=0.9, */*;q=0.1") == "csv"
    assert paging.parse_format({"format": "json"}, "text/csv") == "json"  # format wins
    assert paging.parse_format({"format": "csv"}, "") == "csv"


@pytest.mark.parametrize(("accept", "fmt"), [
    ("text/csv;q=0", "json"),
    ("application/json, text/csv;q=0", "json"),
    ("text/csvx", "json"),  # another type
    ("text/csv;q=0.5, application/json;q=0.6", "json"),
    ("text/csv;q=0.6, application/json;q=0.5", "csv"),
    ("text/csv, application/json", "json"),  # a tie
    ("*/*", "json"),
    ("text/*", "csv"),
    ("text/*, application/*;q=0.9", "csv"),
    ("text/*;q=0.5, text/csv;q=0, */*", "json"),  # the most specific range decides
    ("text/csv;q=1.0, */*;q=0.999", "csv"),
    ('text/csv;charset=utf-8;q=0.8;foo="a, b;q=0", application/json;q=0.7', "csv"),
    ("TEXT/CSV ; Q=0.5 ,\tapplication/json ; q=0.25", "csv"),
    ("image/png", "json"),  # nothing the API answers: JSON
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "json"),
])
def test_accept_is_weighed_by_q_values(accept: str, fmt: str) -> None:
    assert paging.parse_format({}, accept) == fmt


@pytest.mark.parametrize("accept", [
    "text/csv;q=2", "text/csv;q=0.5000", "text/csv;q=-1", "text/csv;q=", "text/csv;q=0.5;q=1",
    "text/csv;q", "text/csv;=1", "text/", "/csv", "text/csv/x", "*/csv", 'text/csv;a="unclosed',
    "text/csv;q=nan", "text/csv;q=1e0", "text csv", "", ",,,", ";q=1",
])
def test_a_malformed_accept_element_is_ignored(accept: str) -> None:
    assert paging.parse_format({}, accept) == "json"
    assert paging.parse_format({}, f"{accept}, text/csv;q=0.1") == "csv"


ranges = st.sampled_from(["text/csv", "application/json", "text/*", "application/*", "*/*",
                          "text/plain", "text/csvx", "TEXT/Csv"])
elements = st.tuples(ranges, st.sampled_from(["", ";q=0", ";q=0.3", ";q=0.700", ";q=1",
                                              ";charset=utf-8", ';x="1,2"']))


@given(st.lists(elements, max_size=6), st.randoms(use_true_random=False))
def test_the_order_and_spacing_of_accept_elements_do_not_matter(
    chosen: list[tuple[str, str]], random: Any,
) -> None:
    header = ",".join(kind + params for kind, params in chosen)
    shuffled = [f"{kind}{params.replace(';', ' ; ')}" for kind, params in chosen]
    random.shuffle(shuffled)
    assert paging.parse_format({}, " , ".join(shuffled)) == paging.parse_format({}, header)


@given(st.text(max_size=300))
def test_any_accept_header_answers_json_or_csv(accept: str) -> None:
    assert paging.parse_format({}, accept) in paging.FORMATS


@pytest.mark.parametrize("fmt", ["xml", "", "CSV", "x" * 10_000])
def test_a_bad_format_is_a_400_naming_it(fmt: str) -> None:
    err = error_of(paging.parse_format, {"format": fmt}, "")
    assert (err.status, err.param) == (400, "format")
    assert len(err.message) < 200


def test_interval_defaults_to_one_minute_and_knows_the_sizes() -> None:
    assert api.parse_interval({}).name == "1m"
    assert [api.parse_interval({"interval": i}).size for i in ("1m", "5m", "1h")] == [
        timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=1)]


@pytest.mark.parametrize("interval", ["2m", "", "1H", "1d", "x" * 10_000])
def test_a_bad_interval_is_a_400_naming_it(interval: str) -> None:
    err = error_of(api.parse_interval, {"interval": interval})
    assert (err.status, err.param) == (400, "interval")
    assert len(err.message) < 200


def test_the_range_defaults_to_the_span_before_now() -> None:
    assert paging.parse_range({}, NOW, SPAN) == (NOW - SPAN, NOW)
    end = datetime(2026, 11, 24, 11, tzinfo=UTC)
    assert paging.parse_range({"end": "2026-11-24T12:00:00+01:00"}, NOW, SPAN) == (end - SPAN, end)
    assert paging.parse_range({"start": "2026-11-24T10:00:00Z"}, NOW, SPAN) == (
        datetime(2026, 11, 24, 10, tzinfo=UTC), NOW)


@pytest.mark.parametrize(("query", "param"), [
    ({"start": "yesterday"}, "start"),
    ({"start": "2026-11-24T10:00:00"}, "start"),  # no zone
    ({"end": "2026-11-24T10:00:00"}, "end"),
    ({"end": "9999-12-31T00:00:00Z"}, "end"),
    ({"start": "2" * 100}, "start"),
    ({"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T10:00:00Z"}, "start"),  # empty
    ({"start": "2026-11-24T11:00:00Z", "end": "2026-11-24T10:00:00Z"}, "start"),
])
def test_a_bad_range_is_a_400_naming_the_parameter(query: dict[str, str], param: str) -> None:
    err = error_of(paging.parse_range, query, NOW, SPAN)
    assert (err.status, err.param) == (400, param)


def test_the_next_query_carries_times_in_iso_8601_and_leaves_out_nones() -> None:
    assert paging.next_query({"interval": "5m", "start": NOW, "limit": 100, "format": None}) == {
        "interval": "5m", "start": "2026-11-24T12:00:42.500Z", "limit": "100"}
    assert paging.link_header("http://h/x/?a=1") == {"Link": '<http://h/x/?a=1>; rel="next"'}


def test_csv_has_a_header_and_empty_cells_for_unknown_values() -> None:
    text = paging.csv_text(("start", "close", "source", "closed"), [
        {"start": "2026-11-24T12:00:00.000Z", "close": 1.5, "closed": True},
        {"start": "2026-11-24T12:01:00.000Z", "close": 2.0, "source": "a,b", "closed": False},
    ])
    assert text == ("start,close,source,closed\n2026-11-24T12:00:00.000Z,1.5,,true\n"
                    '2026-11-24T12:01:00.000Z,2.0,"a,b",false\n')


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63))
def test_a_csv_cell_reads_back_as_the_json_value(price: float, count: int) -> None:
    row = {"close": price, "count": count, "closed": True}
    (cells,) = list(csv.DictReader(io.StringIO(paging.csv_text(list(row), [row]))))
    assert json.loads(cells["close"]) == price
    assert json.loads(cells["count"]) == count
    assert json.loads(cells["closed"]) is True
