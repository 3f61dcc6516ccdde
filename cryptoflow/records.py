"""The records that flow through the topics, and the one gate every tick passes.

``parse_tick`` turns the raw bytes of a topic message (from our ingest job or any
other producer) into a ``PriceTick`` or raises ``InvalidTick`` with a reason that
goes to the dead letters. It is pure: no broker, no clock of its own.

Wire format of the symbol topics, one JSON object per message, key = symbol::

    {"symbol": "BTCUSDT", "price": 67234.5, "ts": "2026-11-24T00:00:00.123Z",
     "source": "binance-rest"}

``price`` is a JSON number (a decimal string, as Binance sends, is accepted too);
``ts`` is ISO-8601 with a timezone or epoch milliseconds; ``source`` is optional.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeGuard, dataclass_transform

import faust

from cryptoflow.exceptions import InvalidRecord, InvalidTick

if TYPE_CHECKING:
    @dataclass_transform()
    class Record(faust.Record, abstract=True):
        """faust.Record to the type checker: a record is built from its typed fields."""
else:
    Record = faust.Record  # at run time, faust's own

MAX_TICK_BYTES = 4096
# Event times outside these bounds are dead letters: a far-future ts hangs faust's
# compiled window code (docs/development/local-stack.md), and epoch seconds sent as
# milliseconds land in 1970. Binance opened in 2017.
EARLIEST_TS = datetime(2017, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=1)
# Prices outside these bounds are dead letters: no exchange quotes them, and 1.7e308
# made the variance overflow (stddev Infinity, which is not JSON). Binance quotes
# prices with 8 decimals, so none is below 1e-8; among the dearest quotes, bitcoin in
# Indonesian rupiah is about 1.6e9 at 100,000 USD, 60 times below 1e11, whose square
# (1e22) keeps every sum of the statistics finite by far.
MIN_PRICE = 1e-8
MAX_PRICE = 1e11


class PriceTick(Record, serializer="json", include_metadata=False, isodates=True):
    """One price of one symbol at one instant (UTC, millisecond precision)."""

    symbol: str
    price: float
    ts: datetime
    source: str = "binance-rest"

    def to_wire(self) -> bytes:
        """The documented JSON object, as readable in Kafdrop."""
        return json.dumps(
            {"symbol": self.symbol, "price": self.price, "ts": format_ts(self.ts),
             "source": self.source},
            separators=(",", ":"),
        ).encode()

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document: the original design's ``{symbol, price, ts}``, keyed by
        ``ts`` (a collection holds one symbol): the ``_id`` index every collection has
        refuses a second tick of the same millisecond, as the unique (symbol, ts) index
        did, and orders the ticks by event time, with no secondary index to write."""
        return {"_id": self.ts, "symbol": self.symbol, "price": self.price, "ts": self.ts}


def format_ts(ts: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, e.g. ``2026-11-24T00:00:00.123Z``."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_millis(ts: datetime) -> datetime:
    """Drop sub-millisecond digits: MongoDB stores milliseconds, so round trips stay exact."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def parse_price(raw: Any) -> float:
    """A price from MIN_PRICE to MAX_PRICE from a JSON number or a decimal string."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidTick(f"price must be a number, got {type(raw).__name__}")
    try:
        price = float(raw)
    except ValueError:
        raise InvalidTick(f"price is not a number: {raw!r:.40}") from None
    if not math.isfinite(price):
        raise InvalidTick(f"price is not finite: {raw!r:.40}")
    if price <= 0:
        raise InvalidTick(f"price must be > 0, got {raw!r:.40}")
    if not MIN_PRICE <= price <= MAX_PRICE:
        raise InvalidTick(
            f"price out of range ({MIN_PRICE:g} to {MAX_PRICE:g}): {raw!r:.40}")
    return price


def parse_ts(raw: Any, now: datetime) -> datetime:
    """A UTC datetime from ISO-8601 with a zone or epoch milliseconds, within sane bounds."""
    if isinstance(raw, bool):
        raise InvalidTick("ts must be an ISO-8601 string or epoch milliseconds, got bool")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise InvalidTick(f"ts is not finite: {raw!r}")
        try:
            ts = datetime.fromtimestamp(raw / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidTick(f"ts out of range: {raw!r}") from None
    elif isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidTick(f"ts is not ISO-8601: {raw!r:.40}") from None
        if ts.tzinfo is None:
            raise InvalidTick(f"ts has no timezone: {raw!r:.40}")
    else:
        raise InvalidTick(
            f"ts must be an ISO-8601 string or epoch milliseconds, got {type(raw).__name__}"
        )
    if not EARLIEST_TS <= ts <= now + LATEST_AHEAD:
        raise InvalidTick(f"ts out of range: {format_ts(ts)}")
    return to_millis(ts.astimezone(UTC))


def load_json(raw: bytes | str, refused: type[InvalidRecord] = InvalidRecord) -> Any:
    """The JSON value of outside bytes (a topic's message, a stream frame, a REST body),
    or ``refused`` with the reason: whatever made it unreadable. Not only syntax: Python's
    decoder recurses once per level of nesting, so ``[[[...]]]`` a thousand levels deep
    raises ``RecursionError``, which would otherwise end the task that read it."""
    try:
        return json.loads(raw)
    except ValueError as err:  # bad syntax or UTF-8, an integer of over 4,300 digits
        raise refused(f"not JSON: {err}") from None
    except RecursionError:
        raise refused("not JSON we read: nested too deeply") from None


def json_object(
    value: bytes | None, limit: int, refused: type[InvalidRecord] = InvalidRecord,
) -> dict[str, Any]:
    """The JSON object a message value holds, at most ``limit`` bytes, or ``refused``."""
    if value is None:
        raise refused("empty message (no value)")
    if len(value) > limit:
        raise refused(f"message too large: {len(value)} bytes (limit {limit})")
    data = load_json(value, refused)
    if not isinstance(data, dict):
        raise refused(f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_tick(value: bytes | None, symbols: Collection[str], now: datetime) -> PriceTick:
    """Validate one message value; ``InvalidTick`` says why it was refused."""
    return tick_from_fields(json_object(value, MAX_TICK_BYTES, InvalidTick), symbols, now)


def tick_from_fields(data: dict[str, Any], symbols: Collection[str], now: datetime) -> PriceTick:
    for name in ("symbol", "price", "ts"):
        if name not in data:
            raise InvalidTick(f"missing field {name!r}")
    symbol = data["symbol"]
    if not isinstance(symbol, str):
        raise InvalidTick(f"symbol must be a string, got {type(symbol).__name__}")
    if symbol not in symbols:
        raise InvalidTick(f"unknown symbol {symbol!r:.40}")
    source = data.get("source", "external")
    if not isinstance(source, str):
        raise InvalidTick(f"source must be a string, got {type(source).__name__}")
    return PriceTick(
        symbol=symbol, price=parse_price(data["price"]), ts=parse_ts(data["ts"], now),
        source=source,
    )


# --- Stored ticks, handed on to the tables ----------------------------------------------
#
# Wire format of ``cryptoflow-ticks`` (key: the symbol as JSON): a symbol's ticks stored
# by one batch of the persist agent, in the order they were read, each with its origin
# (``topic/partition/offset`` in its symbol topic)::
#
#     {"symbol": "BTCUSDT", "ticks": [{"price": 67234.5, "ts": "2026-11-24T00:00:00.123Z",
#      "source": "binance-rest"}, ...], "origins": ["btc/0/1234", ...]}
#
# One record per symbol and batch (split where it would pass STORED_TICKS_RECORD_BYTES),
# not one per tick: every record crosses faust once more (bench/README.md).

STORED_TICKS_RECORD_BYTES = 64 * 1024  # far below Kafka's 1 MB message limit
MAX_STORED_TICKS_BYTES = 1_000_000
_TICK_FIELDS_BYTES = 100  # a tick's JSON and its origin, beyond its source and origin


def stored_ticks_records(ticks: Sequence[tuple[PriceTick, str]]) -> list[bytes]:
    """The ``cryptoflow-ticks`` values of one symbol's stored ticks (with their origins),
    in order, each of about STORED_TICKS_RECORD_BYTES at most (one tick at least)."""
    records: list[bytes] = []
    start, size = 0, 0
    for end, (tick, origin) in enumerate(ticks):
        grows = _TICK_FIELDS_BYTES + len(tick.source) + len(origin)
        if end > start and size + grows > STORED_TICKS_RECORD_BYTES:
            records.append(stored_ticks_record(ticks[start:end]))
            start, size = end, 0
        size += grows
    if start < len(ticks):
        records.append(stored_ticks_record(ticks[start:]))
    return records


def stored_ticks_record(ticks: Sequence[tuple[PriceTick, str]]) -> bytes:
    """One ``cryptoflow-ticks`` value: ticks of one symbol, each with its origin."""
    return json.dumps({
        "symbol": ticks[0][0].symbol,
        "ticks": [{"price": tick.price, "ts": format_ts(tick.ts), "source": tick.source}
                  for tick, _ in ticks],
        "origins": [origin for _, origin in ticks],
    }, separators=(",", ":")).encode()


@dataclass(frozen=True)
class StoredTicks:
    """A ``cryptoflow-ticks`` record: one symbol's stored ticks in order, each with its
    origin."""

    symbol: str
    ticks: list[tuple[PriceTick, str]]


def parse_stored_ticks(
    value: bytes | None, symbols: Collection[str], now: datetime,
) -> StoredTicks:
    """The ticks of a ``cryptoflow-ticks`` value with their origins; ``InvalidRecord``
    says why not."""
    data = json_object(value, MAX_STORED_TICKS_BYTES)
    ticks, origins = data.get("ticks"), data.get("origins")
    if not isinstance(ticks, list) or not isinstance(origins, list) or len(ticks) != len(
            origins) or not all(isinstance(one, dict) for one in ticks):
        raise InvalidRecord("expected ticks (objects) and as many origins")
    if not ticks:
        raise InvalidRecord("no ticks")
    if not all(isinstance(origin, str) for origin in origins):
        raise InvalidRecord("origins must be strings")
    symbol = data.get("symbol")
    stored: list[tuple[PriceTick, str]] = [
        (tick_from_fields({**fields, "symbol": symbol}, symbols, now), origin)
        for fields, origin in zip(ticks, origins, strict=True)]
    return StoredTicks(stored[0][0].symbol, stored)


# --- Streamed market data --------------------------------------------------------------
#
# Wire format of the ``trades`` topic (key: the symbol as JSON, ``"BTCUSDT"``): Binance's
# own aggTrade object, the fields it sends on the stream and from ``GET /api/v3/aggTrades``
# plus the symbol::
#
#     {"s": "BTCUSDT", "a": 12345, "p": "67234.50", "q": "0.012", "f": 100, "l": 105,
#      "T": 1764547200123, "m": true}
#
# Wire format of the ``book`` topic (key likewise): the latest top of book of a symbol,
# as bookTicker sends it, with the time it was received (``E``, epoch ms) and the spread
# statistics of the ``n`` updates it stands for (the stream conflates hundreds of updates a
# second into one message per symbol and interval; ``sum_bps``/``max_bps``: spread in basis
# points summed and at its widest over them)::
#
#     {"s": "BTCUSDT", "u": 400900217, "b": "67234.1", "B": "1.2", "a": "67234.5",
#      "A": "0.4", "E": 1764547200123, "n": 212, "sum_bps": 12.6, "max_bps": 0.21}
#
# ``Trade`` and ``BookTicker`` are plain slotted dataclasses, not faust Records: thousands
# pass a second, they are validated from raw bytes by the parsers below (other producers
# may write to these topics too) and faust never serializes them.

MAX_MARKET_BYTES = 1024
MAX_INT64 = 2**63 - 1  # the largest integer a BSON document holds
BASIS_POINTS = 10_000
# Sums of quantities and of price * quantity stay finite with prices up to 1e11.
MAX_QUANTITY = 1e12
# bid < ask, so a spread is below 2 * BASIS_POINTS of the mid.
MAX_SPREAD_BPS = 2 * BASIS_POINTS


@dataclass(frozen=True, slots=True)
class Trade:
    """One aggregate trade: the raw trades ``first_trade_id..last_trade_id`` of one taker
    order at one price. ``trade_id`` (Binance's ``a``) is consecutive per symbol.

    ``invalid``: an id Binance marks as invalid (since 2022-04-12, duplicates of other
    aggregate trades: price and quantity 0, first and last trade id -1, in REST answers
    and archives, never on the stream). It is stored as Binance serves it, so the id
    sequence stays whole, and counts in no candle, window or volume."""

    symbol: str
    trade_id: int
    price: float
    qty: float
    first_trade_id: int
    last_trade_id: int
    time_ms: int  # trade time, epoch milliseconds (Binance's ``T``)
    is_buyer_maker: bool
    invalid: bool = False
    filled: bool = False  # fetched from REST to fill a gap (the coverage ledger counts it)

    @property
    def ts(self) -> datetime:
        return datetime.fromtimestamp(self.time_ms / 1000, tz=UTC)

    @property
    def raw_trades(self) -> int:
        """How many raw trades this aggregate trade stands for (what klines count)."""
        return 0 if self.invalid else self.last_trade_id - self.first_trade_id + 1

    def to_document(self) -> dict[str, Any]:
        """The ``trades`` document; its ``_id`` is the natural key (see ``trade_key``), so
        a redelivered or re-fetched trade is a duplicate key, never a second document."""
        document = {
            "_id": trade_key(self.symbol, self.trade_id), "symbol": self.symbol,
            "trade_id": self.trade_id, "price": self.price, "qty": self.qty,
            "first_trade_id": self.first_trade_id, "last_trade_id": self.last_trade_id,
            "ts": self.ts, "is_buyer_maker": self.is_buyer_maker,
        }
        if self.invalid:
            document["invalid"] = True
        return document


AGG_TRADE_FIELDS = ("a", "p", "q", "f", "l", "T", "m")


FILLED_FIELD = "filled"  # set (true) on a trades message fetched from REST to fill a gap


def agg_trade_wire(fields: dict[str, Any], symbol: str, filled: bool = False) -> bytes:
    """The ``trades`` message of one aggTrade as Binance sent it (stream or REST): its
    fields as they came (decimal strings stay strings), plus the symbol, and
    ``FILLED_FIELD`` for one fetched from REST to fill a gap."""
    wire: dict[str, Any] = {"s": symbol}
    wire.update((name, fields[name]) for name in AGG_TRADE_FIELDS)
    if filled:
        wire[FILLED_FIELD] = True
    return json.dumps(wire, separators=(",", ":")).encode()


def trade_key(symbol: str, trade_id: int) -> str:
    """``BTCUSDT:00000000000000012345``: zero-padded so that the ``_id`` index orders a
    symbol's trades by id (no secondary index needed, docs/development/local-stack.md)."""
    return f"{symbol}:{trade_id:020d}"


@dataclass(frozen=True, slots=True)
class BookTicker:
    """A symbol's best bid and ask, and the spread statistics of the updates since the
    previous one (``updates`` of them)."""

    symbol: str
    update_id: int
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    received_ms: int
    updates: int = 1
    spread_bps_sum: float = 0.0
    spread_bps_max: float = 0.0

    @property
    def spread_bps(self) -> float:
        """This quote's spread in basis points of the mid price."""
        return spread_bps(self.bid, self.ask)

    @property
    def ts(self) -> datetime:
        return datetime.fromtimestamp(self.received_ms / 1000, tz=UTC)

    def to_wire(self) -> bytes:
        return json.dumps(
            {"s": self.symbol, "u": self.update_id, "b": repr(self.bid), "B": repr(self.bid_qty),
             "a": repr(self.ask), "A": repr(self.ask_qty), "E": self.received_ms,
             "n": self.updates, "sum_bps": self.spread_bps_sum, "max_bps": self.spread_bps_max},
            separators=(",", ":"),
        ).encode()


def spread_bps(bid: float, ask: float) -> float:
    return (ask - bid) / ((ask + bid) / 2) * BASIS_POINTS


def _whole(data: dict[str, Any], name: str) -> int:
    """A whole number that MongoDB can store: its integers are signed 64-bit."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT64:
        raise InvalidRecord(
            f"{name!r} must be a whole number from 0 to 2**63-1, got {value!r:.40}")
    return value


def _amount(data: dict[str, Any], name: str, *, zero: bool = False) -> float:
    """A quantity from a decimal string (as Binance sends it) or a number; finite, > 0
    (or >= 0 with ``zero``: an empty side of the book has quantity 0)."""
    raw = data.get(name)
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidRecord(f"{name!r} must be a decimal number, got {raw!r:.40}")
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRecord(f"{name!r} is not a number: {raw!r:.40}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise InvalidRecord(f"{name!r} must be a finite number > 0, got {raw!r:.40}")
    if value > MAX_QUANTITY:
        raise InvalidRecord(f"{name!r} is out of range (at most {MAX_QUANTITY:g}): {raw!r:.40}")
    return value


def _time_ms(data: dict[str, Any], name: str, now: datetime) -> int:
    value = _whole(data, name)
    parse_ts(value, now)  # the same bounds as a tick's ts
    return value


def _symbol(data: dict[str, Any], symbols: Collection[str]) -> str:
    symbol = data.get("s")
    if not isinstance(symbol, str):
        raise InvalidRecord(f"'s' (symbol) must be a string, got {symbol!r:.40}")
    if symbol not in symbols:
        raise InvalidRecord(f"unknown symbol {symbol!r:.40}")
    return symbol




INVALID_TRADE_IDS = -1  # first and last trade id of an aggregate trade Binance marks invalid


def trade_from_fields(data: dict[str, Any], symbol: str, now: datetime) -> Trade:
    """A ``Trade`` from Binance's aggTrade fields (stream payload or REST item)."""
    if data.get("f") == INVALID_TRADE_IDS and data.get("l") == INVALID_TRADE_IDS:
        return _invalid_trade(data, symbol, now)
    try:
        price = parse_price(data.get("p"))
    except InvalidTick as err:
        raise InvalidRecord(f"'p' (price): {err.reason}") from None
    first, last = _whole(data, "f"), _whole(data, "l")
    if last < first:
        raise InvalidRecord(f"last trade id {last} is before first trade id {first}")
    return Trade(
        symbol=symbol, trade_id=_whole(data, "a"), price=price, qty=_amount(data, "q"),
        first_trade_id=first, last_trade_id=last, time_ms=_time_ms(data, "T", now),
        is_buyer_maker=_maker(data),
    )


def _invalid_trade(data: dict[str, Any], symbol: str, now: datetime) -> Trade:
    """An aggregate trade Binance marks invalid: ``f`` and ``l`` -1, price and quantity
    exactly 0; anything else with those ids is refused."""
    for name in ("p", "q"):
        raw = data.get(name)
        if not isinstance(raw, str | int | float) or isinstance(raw, bool) or not _zero(raw):
            raise InvalidRecord(f"an aggregate trade marked invalid (f and l -1) has {name!r} "
                                f"{raw!r:.40}, not 0")
    return Trade(
        symbol=symbol, trade_id=_whole(data, "a"), price=0.0, qty=0.0,
        first_trade_id=INVALID_TRADE_IDS, last_trade_id=INVALID_TRADE_IDS,
        time_ms=_time_ms(data, "T", now), is_buyer_maker=_maker(data), invalid=True,
    )


def _maker(data: dict[str, Any]) -> bool:
    maker = data.get("m")
    if not isinstance(maker, bool):
        raise InvalidRecord(f"'m' (buyer is maker) must be true or false, got {maker!r:.40}")
    return maker


def _zero(raw: str | float) -> bool:
    try:
        return float(raw) == 0
    except (ValueError, OverflowError):  # not a number, or an integer beyond float
        return False


def book_from_fields(
    data: dict[str, Any], symbol: str, received_ms: int,
) -> BookTicker:
    """A ``BookTicker`` from bookTicker's fields; the bid must be below the ask."""
    bid, ask = _amount(data, "b"), _amount(data, "a")
    if not bid < ask:
        raise InvalidRecord(f"crossed or empty book: bid {bid!r} >= ask {ask!r}")
    try:
        parse_price(bid)
        parse_price(ask)
    except InvalidTick as err:
        raise InvalidRecord(f"book price: {err.reason}") from None
    return BookTicker(
        symbol=symbol, update_id=_whole(data, "u"), bid=bid, bid_qty=_amount(data, "B", zero=True),
        ask=ask, ask_qty=_amount(data, "A", zero=True), received_ms=received_ms,
    )


def parse_trade(value: bytes | None, symbols: Collection[str], now: datetime) -> Trade:
    """Validate one ``trades`` message; ``InvalidRecord`` says why it was refused."""
    data = json_object(value, MAX_MARKET_BYTES)
    trade = trade_from_fields(data, _symbol(data, symbols), now)
    return dataclasses.replace(trade, filled=True) if data.get(FILLED_FIELD) is True else trade


def parse_book(value: bytes | None, symbols: Collection[str], now: datetime) -> BookTicker:
    """Validate one ``book`` message; ``InvalidRecord`` says why it was refused."""
    data = json_object(value, MAX_MARKET_BYTES)
    symbol = _symbol(data, symbols)
    book = book_from_fields(data, symbol, _time_ms(data, "E", now))
    updates = _whole(data, "n")
    total, widest = data.get("sum_bps"), data.get("max_bps")
    if updates < 1 or not (_is_bps(total) and _is_bps(widest)) or (
        widest > MAX_SPREAD_BPS or total > updates * MAX_SPREAD_BPS
    ):
        raise InvalidRecord("'n', 'sum_bps' and 'max_bps' must be finite numbers, n >= 1, "
                            f"spreads below {MAX_SPREAD_BPS} bps")
    return BookTicker(
        symbol=book.symbol, update_id=book.update_id, bid=book.bid, bid_qty=book.bid_qty,
        ask=book.ask, ask_qty=book.ask_qty, received_ms=book.received_ms, updates=updates,
        spread_bps_sum=float(total), spread_bps_max=float(widest),
    )


def _is_bps(value: object) -> TypeGuard[float]:
    """A spread sum or maximum: a finite number >= 0 (int or float, not a bool)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)
