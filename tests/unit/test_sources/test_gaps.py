"""The gap arithmetic: any mix of live duplicates and jumps, filled, hands on every id once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.sources.gaps import AttemptWindow, Gap, TradeSequence, Verdict, page_coverage


def test_a_sequence_tells_next_duplicate_and_gap() -> None:
    sequence = TradeSequence("BTCUSDT", last_id=10)
    assert sequence.classify(11) is Verdict.NEXT
    assert sequence.classify(10) is Verdict.DUPLICATE
    assert sequence.classify(3) is Verdict.DUPLICATE
    assert sequence.classify(15) is Verdict.GAP
    assert sequence.gap_before(15) == Gap("BTCUSDT", 11, 14)
    assert sequence.gap_before(15).size == 4


def test_an_unstarted_sequence_takes_the_first_trade_it_sees() -> None:
    assert TradeSequence("BTCUSDT").classify(123_456) is Verdict.NEXT


@given(
    start=st.integers(0, 10**12),
    arrivals=st.lists(st.integers(-5, 30), max_size=200),
)
def test_filled_gaps_and_dropped_duplicates_hand_on_every_id_once(
    start: int, arrivals: list[int],
) -> None:
    """Live ids arrive with repeats (reconnects, handovers) and jumps (drops, stalls);
    every gap is filled before the trade after it, as MarketStreams does."""
    sequence = TradeSequence("X", last_id=start)
    handed_on: list[int] = []
    for offset in arrivals:
        trade_id = start + offset
        verdict = sequence.classify(trade_id)
        if verdict is Verdict.GAP:
            gap = sequence.gap_before(trade_id)
            for filled in range(gap.first_id, gap.last_id + 1):
                handed_on.append(filled)
                sequence.advance(filled)
            verdict = sequence.classify(trade_id)
        if verdict is Verdict.NEXT:
            handed_on.append(trade_id)
            sequence.advance(trade_id)
    assert handed_on == list(range(start + 1, start + 1 + len(handed_on)))
    highest = max((start + o for o in arrivals), default=start)
    assert sequence.last_id == max(start, highest)


def test_a_page_fills_up_to_the_live_stream() -> None:
    coverage = page_coverage(100, [100, 101, 102, 103, 104], stop_before=103)
    assert coverage.take == [100, 101, 102]
    assert coverage.missing == []
    assert coverage.next_id == 103


def test_a_page_that_starts_later_shows_what_the_exchange_no_longer_has() -> None:
    coverage = page_coverage(100, [150, 151, 153], stop_before=None)
    assert coverage.take == [150, 151, 153]
    assert coverage.missing == [(100, 149), (152, 152)]
    assert coverage.next_id == 154


def test_ids_before_the_wanted_one_are_not_taken_again() -> None:
    assert page_coverage(100, [98, 99, 100], stop_before=None).take == [100]


@given(
    wanted=st.integers(0, 1000),
    page=st.lists(st.integers(0, 1200), max_size=60, unique=True).map(sorted),
    stop=st.one_of(st.none(), st.integers(0, 1300)),
)
def test_a_page_accounts_for_every_id_from_wanted_to_next(
    wanted: int, page: list[int], stop: int | None,
) -> None:
    coverage = page_coverage(wanted, page, stop)
    accounted = set(coverage.take)
    for first, last in coverage.missing:
        assert first <= last
        accounted |= set(range(first, last + 1))
    assert accounted == set(range(wanted, coverage.next_id))
    assert coverage.take == sorted(coverage.take)
    if stop is not None:
        assert all(trade_id < stop for trade_id in coverage.take)


def test_connection_attempts_stay_within_the_window() -> None:
    window = AttemptWindow(limit=3, per=300.0)
    for moment in (0.0, 1.0, 2.0):
        assert window.wait(moment) == 0
        window.record(moment)
    assert window.wait(10.0) == 290.0  # the first attempt leaves the window at 300 s
    assert window.wait(300.0) == 0
