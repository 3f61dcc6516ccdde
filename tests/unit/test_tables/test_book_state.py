"""One table value per symbol for the book (top of book and open spread windows): batch
by batch, with redeliveries and through JSON, it gives the spread statistics of all the
book tickers at once, every window closed once with its final value."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from cryptoflow.records import BookTicker
from cryptoflow.tables.book_state import BookState, TopOfBook, advance_book
from cryptoflow.tables.open_windows import open_stats
from cryptoflow.tables.trade_stats import SpreadStats
from cryptoflow.tables.windows import WINDOWS
from tests.unit.test_tables.test_trade_stats import assert_same, book_tickers
from tests.unit.test_tables.trade_histories import SYMBOL, T0_MS, redelivered_batches

# up to 3 minutes between two book tickers: windows of every kind open and close
spaced_books = book_tickers(max_step_ms=180_000).filter(bool)


@given(spaced_books, st.data())
def test_batch_by_batch_with_redeliveries_equals_all_book_tickers_at_once(
    books: list[BookTicker], data: st.DataObject,
) -> None:
    state: BookState | None = None
    windows: dict[tuple[str, datetime], SpreadStats] = {}
    for batch in redelivered_batches(data, len(books)):
        advanced = advance_book(state, books[batch])
        assert advanced is not None  # the batch reaches past the one before
        assert advanced.past == []
        for closed in advanced.closed_windows:
            assert (closed.name, closed.start) not in windows, "a window closed twice"
            windows[closed.name, closed.start] = closed.stats
        state = BookState.loads(advanced.state.dumps())
        assert advanced.state == state
        assert advance_book(state, books[batch]) is None  # the same batch again
    assert state is not None
    assert state.top == TopOfBook.of(books[-1])
    assert advance_book(state, books) is None
    for name, open_window in state.windows.items():
        windows[name, open_window.start] = open_window.stats
    direct = {(name, start): SpreadStats.of(part)
              for name, spec in WINDOWS.items() for start, part in spec.split(books).items()}
    assert windows.keys() == direct.keys()
    for key, stats in windows.items():
        assert_same(stats, direct[key])
    newest = books[-1].ts
    for spec in WINDOWS.values():
        assert open_stats(state.windows, spec, newest) is not None
        assert open_stats(state.windows, spec, newest + spec.size) is None


def test_a_book_ticker_received_before_the_open_window_is_returned_for_its_window() -> None:
    def book(update_id: int, second: int) -> BookTicker:
        return BookTicker(symbol=SYMBOL, update_id=update_id, bid=10.0, bid_qty=1.0,
                          ask=10.01, ask_qty=1.0, received_ms=T0_MS + second * 1000)

    first = advance_book(None, [book(1, 5), book(2, 65)])
    assert first is not None
    assert [(c.name, c.start.second, c.stats.updates) for c in first.closed_windows] == [
        ("1m", 0, 1)]
    back_in_time = book(3, 30)  # the local clock stepped back
    second = advance_book(first.state, [back_in_time])
    assert second is not None
    assert second.past == [("1m", [back_in_time])]
    assert second.state.windows["1m"] == first.state.windows["1m"]
    assert second.state.top == TopOfBook.of(back_in_time)  # the newest update id
    assert second.state.top.update_id == 3
    assert advance_book(second.state, [back_in_time]) is None  # redelivered: counted once
