"""How the streams are cut into connections: Binance's 1024 streams and its URL length."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.sources.streams import (
    MAX_STREAMS,
    MAX_URL,
    STREAM_PATH,
    connection_groups,
)

BASE = "wss://stream.binance.com:9443"
names = st.from_regex(r"[a-z0-9]{2,20}@(aggTrade|bookTicker)", fullmatch=True)


def url(streams: list[str]) -> str:
    return f"{BASE}{STREAM_PATH}{'/'.join(streams)}"


@given(st.lists(names, max_size=3000))
def test_groups_keep_the_order_and_each_fits_one_connection(streams: list[str]) -> None:
    groups = connection_groups(BASE, streams)
    assert [stream for group in groups for stream in group] == streams
    for group in groups:
        assert 0 < len(group) <= MAX_STREAMS
        assert len(url(group)) <= MAX_URL
    for group, following in pairwise(groups):
        # cut only where the next stream did not fit: as few connections as possible
        assert len(group) == MAX_STREAMS or len(url([*group, following[0]])) > MAX_URL


def test_300_symbols_of_trades_and_book_tickers_need_two_connections() -> None:
    streams = [f"s{i:03d}usdt@{kind}" for i in range(300) for kind in ("aggTrade", "bookTicker")]
    assert len(url(streams)) > MAX_URL
    assert len(connection_groups(BASE, streams)) == 2


def test_short_names_are_cut_at_1024_streams() -> None:
    streams = ["a@t"] * 2000
    assert [len(group) for group in connection_groups("ws://h", streams)] == [1024, 976]


def test_a_name_longer_than_a_url_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        connection_groups(BASE, ["x" * MAX_URL])
