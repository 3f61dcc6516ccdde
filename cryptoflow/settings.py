"""Typed settings read from the environment (and an optional ``.env`` file).

Every setting is declared once below, with its variable, type, default and a
one-line description; ``Settings.from_env`` parses and checks them all, so a bad
value stops the worker at start with one line naming the variable, not deep
inside a running agent. Nothing here does I/O beyond reading ``.env`` (and the
Kafka CA file, when one is named).
"""

from __future__ import annotations

import itertools
import math
import os
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import unquote, urlsplit

import faust

from cryptoflow.exceptions import SettingsError

PREFIX = "CRYPTOFLOW_"
DEMO_DATABASE = "fx_demo"  # make demo's database, apart from the recording of real prices
SECRETS = frozenset({"kafka_sasl_password"})  # never shown, not even masked in part
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,20}$")
# The app's own topics, each named {CRYPTOFLOW_TOPIC_PREFIX}-{kind} (Settings.own_topic).
OwnTopic = Literal["trades", "book", "deadletter", "ticks", "alerts"]
OWN_TOPICS: tuple[OwnTopic, ...] = get_args(OwnTopic)
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]+")  # what Kafka allows in a topic name
MAX_TOPIC_NAME = 249
# URI options whose value is (or holds) a credential: MongoDB's
# tlsCertificateKeyFilePassword, proxyPassword and authMechanismProperties
# (AWS_SESSION_TOKEN:..., OIDC tokens), the legacy sslPEMKeyPassword, anything
# named with pass, secret, token or credential.
CREDENTIAL_OPTION = re.compile(r"pass|secret|token|credential|authmechanismproperties", re.I)
OPTION_SEPARATOR = re.compile(r"[?&;]")
MASK = "***"


T = TypeVar("T")


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _optional_text(raw: str) -> str:
    return raw.strip()


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {raw!r}")
        return value

    return parse


def _host(raw: str) -> str:
    """``@hostname`` stands for this machine's name: each scaled container its own."""
    value = _text(raw)
    return socket.gethostname() if value == "@hostname" else value


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a finite number of seconds >= 0, got {raw!r}")
    return value


def _positive_seconds(raw: str) -> float:
    value = _seconds(raw)
    if value == 0:
        raise ValueError(f"expected a number of seconds > 0, got {raw!r}")
    return value


def _fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a fraction such as 0.02, got {raw!r}") from None
    if not 0 < value < 10:
        raise ValueError(f"expected a fraction > 0 such as 0.02 (2 %), got {raw!r}")
    return value


def _count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"expected a whole number >= 1, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"expected a whole number >= 1, got {raw!r}")
    return value


def _count_up_to(most: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = _count(raw)
        if value > most:
            raise ValueError(f"expected a whole number from 1 to {most}, got {raw!r}")
        return value

    return parse


def _days(raw: str) -> int:
    if not raw.strip().isdigit():
        raise ValueError(f"expected a whole number of days >= 0, got {raw!r}")
    return int(raw)


def _port(raw: str) -> int:
    value = _count(raw)
    if value > 65535:
        raise ValueError(f"expected a TCP port 1-65535, got {raw!r}")
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            raise ValueError(
                f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}, "
                f"got {mask_uri(value)!r}"
            )
        return value.rstrip("/")

    return parse


def _symbols(raw: str) -> tuple[str, ...]:
    symbols = _optional_symbols(raw)
    if not symbols:
        raise ValueError("expected a comma-separated list of symbols, got nothing")
    return symbols


def _optional_symbols(raw: str) -> tuple[str, ...]:
    symbols = tuple(s.strip().upper() for s in raw.split(",") if s.strip())
    for symbol in symbols:
        if not SYMBOL_PATTERN.match(symbol):
            raise ValueError(f"{symbol!r} is not a Binance symbol (2-20 letters or digits)")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"lists a symbol twice: {raw!r}")
    return symbols


STREAM_KINDS = ("trades", "book")


def _streams(raw: str) -> tuple[str, ...]:
    """``trades``, ``book``, both (comma-separated), or ``none``."""
    kinds = tuple(k.strip().lower() for k in raw.split(",") if k.strip())
    if kinds == ("none",):
        return ()
    unknown = [k for k in kinds if k not in STREAM_KINDS]
    if unknown or not kinds or len(set(kinds)) != len(kinds):
        raise ValueError(f"expected trades, book, both (trades,book) or none, got {raw!r}")
    return tuple(k for k in STREAM_KINDS if k in kinds)


def _topic_prefix(raw: str) -> str:
    """Empty (the app id), or what Kafka allows in a topic name, short enough that the
    longest of the app's topics stays within Kafka's limit."""
    prefix = raw.strip()
    if prefix and not TOPIC_NAME.fullmatch(prefix):
        raise ValueError(f"{prefix!r} is not a topic name (letters, digits, '.', '_', '-')")
    longest = f"{prefix}-{max(OWN_TOPICS, key=len)}"
    if len(longest) > MAX_TOPIC_NAME:
        raise ValueError(f"too long: {longest[:40]}... would be longer than the "
                         f"{MAX_TOPIC_NAME} characters of a Kafka topic name")
    return prefix


def _setting(env: str, parse: Callable[[str], T], default: str, doc: str) -> T:
    """A setting read from ``env`` by ``parse``: the type checker holds the field's type
    to what ``parse`` returns."""
    setting: T = field(
        metadata={"env": PREFIX + env, "parse": parse, "default": default, "doc": doc})
    return setting


@dataclass(frozen=True)
class Settings:
    """What one worker needs to know; defaults run against the local stack."""

    broker: str = _setting(
        "BROKER", _url(("kafka", "aiokafka")), "kafka://localhost:9092",
        "Kafka bootstrap server(s), faust URL form",
    )
    mongo_uri: str = _setting(
        "MONGO_URI", _url(("mongodb", "mongodb+srv")), "mongodb://localhost:27017",
        "MongoDB connection string (credentials and TLS options go here)",
    )
    mongo_db: str = _setting("MONGO_DB", _text, "fx", "MongoDB database for ticks")
    symbols: tuple[str, ...] = _setting(
        "SYMBOLS", _symbols, "BTCUSDT,ETHUSDT,SOLUSDT",
        "Binance symbols to record: their streams, and their prices unless TICK_SYMBOLS "
        "names fewer",
    )
    # Empty: every symbol (``from_env`` fills it in). Each tick topic costs the worker
    # and the broker a fetch of its partitions all the time, fed or not (bench/README.md).
    tick_symbols: tuple[str, ...] = _setting(
        "TICK_SYMBOLS", _optional_symbols, "",
        "the symbols with a price-tick topic and collection (polled, or fed by any "
        "producer); empty: all of SYMBOLS",
    )
    poll_interval: float = _setting(
        "POLL_INTERVAL", _seconds, "3.0", "seconds between price polls; 0 disables the poller",
    )
    binance_url: str = _setting(
        "BINANCE_URL", _url(("http", "https")), "https://api.binance.com",
        "Binance REST base URL",
    )
    rest_weight_budget: int = _setting(
        "REST_WEIGHT_BUDGET", _count_up_to(6000), "5000",
        "request weight a minute this worker's REST requests may take the IP to (Binance "
        "allows 6,000 per IP); the worker waits for the next minute past it",
    )
    binance_backoff_cap: float = _setting(
        "BINANCE_BACKOFF_CAP", _positive_seconds, "30.0",
        "longest pause between polls while Binance keeps failing (backoff with jitter)",
    )
    streams: tuple[str, ...] = _setting(
        "STREAMS", _streams, "trades,book",
        "Binance WebSocket streams to record for the symbols: trades, book, both, or none",
    )
    binance_ws_url: str = _setting(
        "BINANCE_WS_URL", _url(("wss", "ws")), "wss://stream.binance.com:9443",
        "Binance WebSocket base URL (combined streams at /stream)",
    )
    streams_per_connection: int = _setting(
        "STREAMS_PER_CONNECTION", _count_up_to(1024), "1024",
        "streams one WebSocket connection carries (Binance allows 1024); more symbols, more "
        "connections",
    )
    stream_silence: float = _setting(
        "STREAM_SILENCE", _positive_seconds, "30.0",
        "a connection with no message and no ping for this long is treated as dead",
    )
    stream_max_age: float = _setting(
        "STREAM_MAX_AGE", _positive_seconds, "82800.0",
        "reconnect (and fill the seam) after this long: Binance closes connections at 24 h",
    )
    stream_down_after: float = _setting(
        "STREAM_DOWN_AFTER", _positive_seconds, "30.0",
        "/api/health/ fails when a stream connection has been down this long",
    )
    book_interval: float = _setting(
        "BOOK_INTERVAL", _positive_seconds, "1.0",
        "book tickers of a symbol are conflated into one message per this many seconds",
    )
    gap_fill_timeout: float = _setting(
        "GAP_FILL_TIMEOUT", _positive_seconds, "60.0",
        "how long a gap is retried from REST while Binance fails before it is recorded unfilled",
    )
    gap_fill_max_ids: int = _setting(
        "GAP_FILL_MAX_IDS", _count, "100000",
        "most trade ids one gap fill fetches from REST (100 requests); past it the rest is "
        "recorded unfilled, and a live trade id farther than this from the last is set aside "
        "until the next trade follows it",
    )
    trade_retention_days: int = _setting(
        "TRADE_RETENTION_DAYS", _days, "0",
        "days trades are kept (a TTL index, which costs writes); 0 keeps them forever",
    )
    retention_days: int = _setting(
        "RETENTION_DAYS", _days, "30",
        "days ticks are kept (a job deletes older ones by _id); 0 keeps them forever",
    )
    retention_interval: float = _setting(
        "RETENTION_INTERVAL", _positive_seconds, "3600.0",
        "seconds between runs of the job that deletes ticks older than the retention",
    )
    candle_interval: float = _setting(
        "CANDLE_INTERVAL", _positive_seconds, "60.0",
        "seconds between runs of the job that writes 1-minute candles",
    )
    forming_candle_interval: float = _setting(
        "FORMING_CANDLE_INTERVAL", _seconds, "1.0",
        "most seconds between writes of a symbol's forming 1-minute candle to candles_1m "
        "from streamed trades (closed candles are written at once; 0: with every batch)",
    )
    jump_threshold: float = _setting(
        "JUMP_THRESHOLD", _fraction, "0.02",
        "relative move between two ticks that raises a price-jump alert (0.02 = 2 %)",
    )
    http_timeout: float = _setting(
        "HTTP_TIMEOUT", _positive_seconds, "5.0", "connect + read timeout of one price request",
    )
    app_id: str = _setting("APP_ID", _text, "cryptoflow", "faust app id = Kafka consumer group")
    # Empty: the app id (``from_env`` fills it in), checked against Kafka's topic names.
    topic_prefix: str = _setting(
        "TOPIC_PREFIX", _topic_prefix, "",
        "prefix of the app's own topics ({prefix}-trades, -book, -deadletter, -ticks, "
        "-alerts), so deployments on one broker stay apart; empty: the app id",
    )
    data_dir: str = _setting(
        "DATA_DIR", _text, "cryptoflow-data", "where faust keeps the worker's local state",
    )
    web_port: int = _setting("WEB_PORT", _port, "6066", "port of the worker's web server")
    web_bind: str = _setting(
        "WEB_BIND", _text, "127.0.0.1", "interface the web server listens on (0.0.0.0 in Docker)",
    )
    web_host: str = _setting(
        "WEB_HOST", _host, "127.0.0.1",
        "host name other workers use to reach this one; @hostname: this machine's name",
    )
    web_reads: int = _setting(
        "WEB_READS", _count, "2",
        "most database queries the web views run at once (history, alerts)",
    )
    web_reads_queue: int = _setting(
        "WEB_READS_QUEUE", _count, "32",
        "most web requests waiting for a database query slot; past it they get a 503",
    )
    stream_clients: int = _setting(
        "STREAM_CLIENTS", _count, "100",
        "most /api/stream/ clients at once; past it they get a 503",
    )
    topic_partitions: int = _setting(
        "TOPIC_PARTITIONS", _count, "4", "partitions of every topic the app declares",
    )
    batch_size: int = _setting(
        "BATCH_SIZE", _count, "1000", "most ticks written to MongoDB in one insert_many",
    )
    batch_linger: float = _setting(
        "BATCH_LINGER", _positive_seconds, "0.1", "longest wait to fill a batch, in seconds",
    )
    producer_max_batch_bytes: int = _setting(
        "PRODUCER_MAX_BATCH_BYTES", _count, "16384", "producer batch size, in bytes",
    )
    producer_linger: float = _setting(
        "PRODUCER_LINGER", _seconds, "0.01",
        "how long the producer waits to fill a request, in seconds (fewer, larger requests)",
    )
    event_loop: str = _setting(
        "EVENT_LOOP", _choice("UVLOOP", "ASYNCIO"), "UVLOOP",
        "the worker's event loop: UVLOOP (libuv; about a tenth less CPU for the same "
        "trades, bench/README.md) or ASYNCIO (Python's own)",
    )
    broker_flavor: str = _setting(
        "BROKER_FLAVOR", _choice("KAFKA", "TANSU"), "KAFKA",
        "TANSU on the local broker: table recovery corrects its end offsets, which are "
        "wrong after batched writes, and fetches wait 0.1 s, not 1.5 s "
        "(cryptoflow/devstack/tansu.py)",
    )
    kafka_security_protocol: str = _setting(
        "KAFKA_SECURITY_PROTOCOL", _choice("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        "PLAINTEXT", "how the worker talks to Kafka",
    )
    kafka_sasl_mechanism: str = _setting(
        "KAFKA_SASL_MECHANISM", _choice("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"), "PLAIN",
        "SASL mechanism, with SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_sasl_username: str = _setting(
        "KAFKA_SASL_USERNAME", _optional_text, "", "SASL user name",
    )
    kafka_sasl_password: str = _setting(
        "KAFKA_SASL_PASSWORD", _optional_text, "", "SASL password (never logged)",
    )
    kafka_ssl_cafile: str = _setting(
        "KAFKA_SSL_CAFILE", _optional_text, "",
        "CA bundle that signed the brokers' certificates (system CAs when empty)",
    )
    broker_session_timeout: float = _setting(
        "BROKER_SESSION_TIMEOUT", _positive_seconds, "10.0",
        "seconds before a silent worker leaves the consumer group",
    )
    broker_heartbeat_interval: float = _setting(
        "BROKER_HEARTBEAT_INTERVAL", _positive_seconds, "1.0", "consumer heartbeat, seconds",
    )
    broker_rebalance_timeout: float = _setting(
        "BROKER_REBALANCE_TIMEOUT", _positive_seconds, "5.0",
        "seconds the group waits for members to rejoin during a rebalance",
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env"),
    ) -> Settings:
        """Parse every setting; the environment wins over ``env_file``."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update(read_env_file(env_file))
        values.update(os.environ if environ is None else environ)
        parsed: dict[str, Any] = {}
        for spec in fields(cls):
            variable = spec.metadata["env"]
            raw = values.get(variable, spec.metadata["default"])
            try:
                parsed[spec.name] = spec.metadata["parse"](raw)
            except ValueError as err:
                raise SettingsError(variable, str(err)) from None
        settings = cls(**parsed)._with_tick_symbols()._with_topic_prefix()
        settings._check_topic_names()
        settings._check_kafka_security()
        return settings

    def _with_tick_symbols(self) -> Settings:
        if not self.tick_symbols:
            return replace(self, tick_symbols=self.symbols)
        unknown = [symbol for symbol in self.tick_symbols if symbol not in self.symbols]
        if unknown:
            raise SettingsError(PREFIX + "TICK_SYMBOLS",
                                f"not in CRYPTOFLOW_SYMBOLS: {', '.join(unknown)}")
        return self

    def _with_topic_prefix(self) -> Settings:
        if self.topic_prefix:
            return self
        try:
            _topic_prefix(self.app_id)
        except ValueError as err:
            raise SettingsError(PREFIX + "APP_ID",
                                f"{err} (it is the topic prefix: set CRYPTOFLOW_TOPIC_PREFIX)"
                                ) from None
        return replace(self, topic_prefix=self.app_id)

    def own_topic(self, kind: OwnTopic) -> str:
        """The name of one of the app's own topics: ``{prefix}-{kind}``."""
        return f"{self.topic_prefix}-{kind}"

    def _check_kafka_security(self) -> None:
        if self.kafka_security_protocol.startswith("SASL_"):
            for name in ("kafka_sasl_username", "kafka_sasl_password"):
                if not getattr(self, name):
                    raise SettingsError(
                        PREFIX + name.upper(),
                        f"required with CRYPTOFLOW_KAFKA_SECURITY_PROTOCOL="
                        f"{self.kafka_security_protocol}",
                    )
        if self.kafka_ssl_cafile and not Path(self.kafka_ssl_cafile).is_file():
            raise SettingsError(PREFIX + "KAFKA_SSL_CAFILE",
                                f"no such file: {self.kafka_ssl_cafile!r}")

    def broker_credentials(self) -> faust.SASLCredentials | faust.SSLCredentials | None:
        """faust's credentials object for the configured Kafka security protocol."""
        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            return None
        context = None
        if protocol.endswith("SSL"):
            context = ssl.create_default_context(cafile=self.kafka_ssl_cafile or None)
        if protocol == "SSL":
            return faust.SSLCredentials(context)
        return faust.SASLCredentials(
            username=self.kafka_sasl_username, password=self.kafka_sasl_password,
            mechanism=self.kafka_sasl_mechanism, ssl_context=context,
        )

    def _check_topic_names(self) -> None:
        names: dict[str, str] = {}
        for symbol in self.tick_symbols:
            name = topic_name(symbol)
            if name in names:
                raise SettingsError(
                    PREFIX + ("SYMBOLS" if self.tick_symbols == self.symbols else "TICK_SYMBOLS"),
                    f"{names[name]} and {symbol} would share the topic {name!r}",
                )
            names[name] = symbol

    def warnings(self) -> list[str]:
        """What is allowed but probably a mistake, for the log at start."""
        rest, ws = _exchange_of(self.binance_url), _exchange_of(self.binance_ws_url)
        if not self.streams or rest == ws:
            return []
        return [
            f"CRYPTOFLOW_BINANCE_URL ({mask_uri(self.binance_url)}, {rest}) and "
            f"CRYPTOFLOW_BINANCE_WS_URL ({mask_uri(self.binance_ws_url)}, {ws}) are not the "
            "same exchange: prices and gap fills come from one, streams from the other. Set "
            "both (the simulated exchange serves both on one port)"]

    def describe(self) -> str:
        """One log line with every value, passwords masked."""
        shown = []
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name in SECRETS:
                value = "***" if value else ""
            elif isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, str):
                value = mask_uri(value)
            shown.append(f"{spec.name}={value}")
        return " ".join(shown)


# Binance's documented REST and stream hosts, by the exchange they belong to.
EXCHANGE_HOSTS = {
    "Binance": ("api.binance.com", "api-gcp.binance.com", "api1.binance.com",
                "api2.binance.com", "api3.binance.com", "api4.binance.com",
                "data-api.binance.vision", "stream.binance.com", "data-stream.binance.vision"),
    "Binance.US": ("api.binance.us", "stream.binance.us"),
    "Binance's spot testnet": ("testnet.binance.vision", "stream.testnet.binance.vision"),
}
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _exchange_of(url: str) -> str:
    """Which exchange a URL reaches: a Binance host's exchange, ``this machine`` for a
    loopback address (any port: the simulated exchange), or its host for any other."""
    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK:
        return "this machine"
    return next((name for name, hosts in EXCHANGE_HOSTS.items() if host in hosts), host)


def topic_name(symbol: str) -> str:
    """Topic (and collection) of a symbol: the base asset for USDT pairs, as designed."""
    lowered = symbol.lower()
    if lowered.endswith("usdt") and len(lowered) > len("usdt"):
        return lowered[: -len("usdt")]
    return lowered


def mask_uri(uri: str) -> str:
    """Hide every credential of a URI so it can be logged or shown: the password of
    ``user:password@`` and the value of each option that carries one
    (``CREDENTIAL_OPTION``). Works on faust's ``;``-separated list of URIs too.

    Not with ``urlsplit``: a password with an unescaped ``/``, ``?`` or ``#`` moves its
    idea of where the host starts, and it knows nothing of options. A password with an
    unescaped ``@``, ``:``, ``&`` or ``?`` makes a URI ambiguous; then everything that
    could be a password is hidden: more rather than less (in a list of URIs, from the
    first one's port to the password of the last that has one)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    hidden = _credential_options(rest)
    # The user info ends at the last '@', unless that '@' is inside an option's value.
    for at in {rest.rfind("@"), _last_at_outside(rest, hidden)}:
        colon = rest.find(":", 0, at) if at > 0 else -1
        if colon >= 0:
            hidden.append((colon + 1, at))
    return scheme + sep + _hide(rest, hidden)


def _credential_options(rest: str) -> list[tuple[int, int]]:
    """Spans of the values of credential options. A piece without ``=`` after one
    (``...Password=a&b``) is taken as part of its value: an unescaped ``&`` or ``?``."""
    spans: list[tuple[int, int]] = []
    hiding = False
    bounds = [m.start() for m in OPTION_SEPARATOR.finditer(rest)] + [len(rest)]
    for first, last in itertools.pairwise(bounds):
        name, equals, _ = rest[first + 1:last].partition("=")
        if equals:
            hiding = bool(CREDENTIAL_OPTION.search(unquote(name)))
            if hiding:
                spans.append((first + 1 + len(name) + 1, last))
        elif hiding:
            spans.append((first, last))
    return spans


def _last_at_outside(rest: str, spans: list[tuple[int, int]]) -> int:
    inside = {i for first, last in spans for i in range(first, last)}
    return max((i for i, char in enumerate(rest) if char == "@" and i not in inside),
               default=-1)


def _hide(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each run of overlapping or touching ``spans`` replaced by one MASK."""
    merged: list[list[int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    shown, end = [], 0
    for first, last in merged:
        shown += [text[end:first], MASK]
        end = last
    return "".join(shown) + text[end:]


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments, blank lines and ``export`` prefixes allowed."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        stripped = stripped.removeprefix("export ").strip()
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{path}:{number}", "expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values
