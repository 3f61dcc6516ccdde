"""A jump in delivered offsets is read again before it is believed (broker/deliveries.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.broker.deliveries import DeliveryCheck

TP = ("btc", 2)


def read(log: list[int], start: int | None, stale: list[int]) -> list[int]:
    """What a stream sees of a partition holding ``log`` (ascending offsets; missing ones
    are real gaps) when it seeks to ``start`` and the first fetch hands over ``stale``,
    records fetched from an older position, before the broker answers from where the
    consumer now is. As faust does, a record below its read offset (the one sought,
    then the last one handed on) is dropped."""
    check = DeliveryCheck()
    check.sought(TP, start)
    position = start if start is not None else 0
    fetches = [stale] if stale else []
    read_offset = start
    seen: list[int] = []
    for _ in range(len(log) + 10):
        batch = fetches.pop(0) if fetches else [o for o in log if o >= position][:3]
        if not batch:
            break
        for offset in batch:
            again = check.rewind_to(TP, offset)
            if again is not None:
                position = read_offset = again
                break
            if read_offset is None or offset >= read_offset:
                if not seen or offset > seen[-1]:
                    seen.append(offset)
                read_offset = offset
            position = offset + 1
    return seen


def test_a_stale_fetch_after_a_seek_is_read_again_not_skipped() -> None:
    """The defect: committed 1314, a fetch from before the seek hands over 1395 first.
    faust took 1314-1394 as a gap; here they are read and handed on."""
    log = list(range(1300, 1420))
    assert read(log, 1314, stale=list(range(1395, 1400))) == list(range(1314, 1420))


def test_a_real_gap_is_believed_once_a_fresh_fetch_jumps_again() -> None:
    log = [*range(10), *range(20, 25)]  # 10-19 never existed (compacted, markers)
    assert read(log, 0, stale=[]) == log
    assert read(log, 5, stale=[]) == [o for o in log if o >= 5]


def test_from_the_beginning_the_first_offset_is_the_brokers() -> None:
    log = list(range(40, 50))  # retention removed 0-39
    assert read(log, None, stale=[]) == log


@given(
    present=st.lists(st.booleans(), min_size=1, max_size=60),
    start=st.integers(min_value=0, max_value=60),
    stale_from=st.integers(min_value=0, max_value=80),
    stale_len=st.integers(min_value=0, max_value=10),
)
def test_every_record_from_the_start_is_handed_on_in_order(
    present: list[bool], start: int, stale_from: int, stale_len: int,
) -> None:
    log = [offset for offset, there in enumerate(present) if there]
    stale = [o for o in log if o >= stale_from][:stale_len]
    assert read(log, start, stale) == [o for o in log if o >= start]


def test_a_record_below_the_expected_offset_is_a_copy() -> None:
    """After a seek the transport drops such a record itself: faust's read offset may
    have been moved past records that never reached a stream."""
    check = DeliveryCheck()
    assert not check.handed_on(TP, 5)  # nothing expected yet
    check.sought(TP, 0)  # a partition without a commit: its first offset, from the broker
    assert not check.handed_on(TP, 0)
    assert check.rewind_to(TP, 498) == 0  # the rest of an older fetch: read again from 0
    assert check.rewind_to(TP, 0) is None
    assert check.handed_on(TP, 0) and not check.handed_on(TP, 1)
