"""The gap arithmetic: any mix of live duplicates and jumps, filled, hands on every id once."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.sources.gaps import (
    AttemptWindow,
    Gap,
    PongSchedule,
    SuspectRun,
    TradeSequence,
    Verdict,
    classify,
    page_coverage,
)


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


def test_an_id_farther_than_the_bound_either_way_is_far() -> None:
    sequence = TradeSequence("BTCUSDT", last_id=1_000, max_jump=100)
    assert sequence.classify(1_100) is Verdict.GAP
    assert sequence.classify(1_101) is Verdict.GAP  # 100 ids missing: still fillable
    assert sequence.classify(1_102) is Verdict.FAR
    assert sequence.classify(900) is Verdict.DUPLICATE
    assert sequence.classify(899) is Verdict.FAR
    assert sequence.classify(10**30) is Verdict.FAR


@given(last=st.integers(0, 2**63), trade_id=st.integers(0, 2**63), bound=st.integers(1, 10**6))
def test_classify_says_what_the_distance_says(last: int, trade_id: int, bound: int) -> None:
    verdict = classify(last, trade_id, bound)
    missing = trade_id - last - 1  # ids between them (negative: at or below the last)
    if missing == 0:
        assert verdict is Verdict.NEXT
    elif missing > bound or last - trade_id > bound:
        assert verdict is Verdict.FAR
    else:
        assert verdict is (Verdict.DUPLICATE if trade_id <= last else Verdict.GAP)


def test_a_suspect_run_is_confirmed_by_the_next_id_and_replaced_by_another() -> None:
    run: SuspectRun[str] = SuspectRun()
    assert run.add(500, "a") == [] and not run.confirmed
    assert run.add(900, "b") == ["a"]  # not the next id: the first run ends
    assert run.last_id == 900 and not run.confirmed
    assert run.add(901, "c") == [] and run.confirmed
    assert run.take() == ["b", "c"] and run.last_id is None and not run.confirmed


@given(st.lists(st.tuples(st.floats(0, 0.5), st.booleans()), max_size=300))
def test_pongs_never_come_closer_than_their_interval_and_answer_the_latest_ping(
    steps: list[tuple[float, bool]],
) -> None:
    """Pings arrive at any rate; whoever asks whenever it likes gets at most one pong per
    interval, always with the latest payload, and no ping stays unanswered for longer
    than the interval once asked again."""
    schedule = PongSchedule(every=1.0)
    now, sent, latest = 100.0, [], None
    for number, (pause, is_ping) in enumerate(steps):
        now += pause
        if is_ping:
            latest = str(number).encode()
            schedule.ping(latest)
        payload = schedule.take(now)
        if payload is not None:
            assert payload == latest
            sent.append(now)
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(sent))
    due = schedule.due_at()
    if due is not None:
        assert schedule.take(due) == latest
