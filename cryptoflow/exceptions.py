"""Every error cryptoflow raises, in one module, so callers can catch by kind.

The Binance errors carry a short ``kind`` that the ingest job logs and (later)
counts, so one look at a log line says which failure it was.
"""

from __future__ import annotations


class CryptoflowError(Exception):
    """Base of all cryptoflow errors."""


class SettingsError(CryptoflowError):
    """An environment variable holds a value the app cannot run with."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class InvalidRecord(CryptoflowError):
    """A message cannot become one of our records; ``reason`` goes to the dead letters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidTick(InvalidRecord):
    """A record cannot become a PriceTick; ``reason`` goes to the dead letters."""


class LocalStackError(CryptoflowError):
    """The local broker or database could not be started or stopped."""


class BinanceError(CryptoflowError):
    """A price request to Binance failed; ``kind`` names the failure."""

    kind = "error"


class BinanceRateLimited(BinanceError):
    """HTTP 429 or 418: no request may be sent before ``retry_after`` seconds pass."""

    def __init__(self, status: int, retry_after: float, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}; retry after {retry_after:g}s")
        self.status = status
        self.retry_after = retry_after
        self.kind = "banned" if status == 418 else "rate_limited"


class BinanceServerError(BinanceError):
    """HTTP 5xx: Binance (or a proxy in front of it) failed."""

    kind = "server_error"


class BinanceTimeout(BinanceError):
    """Connecting or reading took longer than the configured timeout."""

    kind = "timeout"


class BinanceUnreachable(BinanceError):
    """No connection could be made (DNS, refused, TLS, reset)."""

    kind = "unreachable"


class BinanceBadResponse(BinanceError):
    """The body is not JSON or not the documented shape."""

    kind = "bad_response"


class BinanceApiError(BinanceError):
    """Binance answered with its ``{"code": ..., "msg": ...}`` error body."""

    kind = "api_error"

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"HTTP {status}: Binance error {code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg


class ApiError(CryptoflowError):
    """A web request that cannot be answered; becomes a JSON error with ``status``."""

    def __init__(
        self, status: int, message: str, param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.retry_after = retry_after


class BrokerStateLost(CryptoflowError):
    """The broker no longer has the app's topics: a memory-only broker restarted."""


class HistoryTooDense(CryptoflowError):
    """A candle not built yet has more stored ticks than one bounded read may fetch."""


class MissingExtra(CryptoflowError):
    """An optional dependency is not installed; the message says which extra brings it."""


class ArchiveError(CryptoflowError):
    """A Binance archive file (data.binance.vision) cannot be read: a name that is not an
    archive's, a CHECKSUM file that is not ``<sha256>  <name>``, or a row that is not
    what its columns hold (the message names the file and the row)."""
