"""Answers kept as the bytes they were sent as, until a table they were read from changes.

``/api/stats/{symbol}/`` and ``/api/prices/latest/`` change only when a batch lands in
the tables, yet were read from them and encoded on every request. ``PreparedAnswers``
keeps each symbol's encoded answer (per window) and forgets a symbol's answers on any
write to any table for that symbol: ``AnswersSensor`` sees every write the agents make
through faust's table API. What it cannot see is forgotten another way: changelog
records applied during a recovery (everything is dropped when a rebalance starts, and
nothing is kept until the recovery is complete), and windows that faust's cleanup
removes by wall-clock time (an answer is kept only until its window may be removed).
At most one answer per (kind, symbol, window) of the configured ones is kept.

The worker owning a symbol's table rows changes only in a rebalance too, so the
router's answer is kept the same way (one per table and symbol), and an answer is
routed without asking faust's router again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from faust.sensors import Sensor
from faust.types import AppT, CollectionT
from faust.utils import json as faust_json

from cryptoflow.web import api

AnswerKey = tuple[str, str, str]  # (kind, symbol, window name or "")
Made = tuple[dict[str, Any], float | None]  # (answer, epoch seconds it stays valid; None: not)
Owner = TypeVar("Owner")


def encode(value: Any) -> bytes:
    """The bytes faust's ``View.json`` sends for ``value`` (with ``api.json_safe``)."""
    payload: str | bytes = faust_json.dumps(api.json_safe(value))
    return payload if isinstance(payload, bytes) else payload.encode()


def json_list(parts: list[bytes]) -> bytes:
    """The encoding of a list whose items encode as ``parts``: faust's JSON is compact
    (no spaces), so this is what ``encode`` gives for the list itself."""
    return b"[" + b",".join(parts) + b"]"


class PreparedAnswers:
    """Encoded answers per (kind, symbol, window), each with the time it stays valid."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._kept: dict[AnswerKey, tuple[bytes, float]] = {}
        self._owners: dict[tuple[str, str], Any] = {}
        self._clock = clock
        self.keeping = False  # until the first recovery is complete

    def get(self, key: AnswerKey, make: Callable[[], Made]) -> bytes:
        """The kept bytes of ``key``, else ``make()``'s answer encoded (and kept, while
        answers are kept and ``make`` says until when)."""
        kept = self._kept.get(key)
        now = self._clock()
        if kept is not None and now < kept[1]:
            return kept[0]
        answer, until = make()
        body = encode(answer)
        if self.keeping and until is not None and now < until:
            self._kept[key] = (body, until)
        else:
            self._kept.pop(key, None)
        return body

    def owner(self, table: str, symbol: str, look_up: Callable[[str, str], Owner]) -> Owner:
        """The worker owning ``symbol`` in ``table``: kept from ``look_up(table, symbol)``
        until the next rebalance."""
        if (table, symbol) in self._owners:
            return self._owners[table, symbol]  # type: ignore[no-any-return]  # look_up's Owner, kept in one dict for every Owner
        found = look_up(table, symbol)
        if self.keeping:
            self._owners[table, symbol] = found
        return found

    def forget(self, symbol: str) -> None:
        for key in [key for key in self._kept if key[1] == symbol]:
            del self._kept[key]

    def suspend(self) -> None:
        """Drop everything and keep nothing (a rebalance started: tables will be
        recovered from their changelogs, which no sensor sees)."""
        self.keeping = False
        self._kept.clear()
        self._owners.clear()

    def resume(self) -> None:
        self._kept.clear()
        self._owners.clear()
        self.keeping = True


def table_key_symbol(key: Any) -> Any:
    """The symbol of a table key: plain tables are keyed by it, windowed ones by
    (symbol, window range)."""
    return key[0] if isinstance(key, tuple) else key


class AnswersSensor(Sensor):
    """Tells ``PreparedAnswers`` about every table write and every rebalance."""

    def __init__(self, answers: PreparedAnswers, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers = answers

    def on_table_set(self, table: CollectionT, key: Any, value: Any) -> None:
        self.answers.forget(table_key_symbol(key))

    def on_table_del(self, table: CollectionT, key: Any) -> None:
        self.answers.forget(table_key_symbol(key))

    def on_rebalance_start(self, app: AppT) -> dict[str, Any]:
        self.answers.suspend()
        return {}
