"""The client's errors: what the exchange answered (HTTP status, its `code` and `msg`), or that no answer
came, kept apart by what the caller may do next. They never carry credentials."""

from __future__ import annotations

import socket

import aiohttp


class ExchangeError(Exception):
    """An answer from the exchange (or the lack of one). Never carries credentials."""

    def __init__(self, status: int, code: int | None, msg: str, path: str = ""):
        self.status, self.code, self.msg, self.path = status, code, msg, path
        super().__init__(f"{path} HTTP {status} code={code} {msg}".strip())


class HostNotFoundError(ExchangeError):
    """The host's name did not resolve (no DNS answer): nothing was sent. At start it means no network, a wrong
    host or a resolver that is down, which retrying for minutes seldom fixes (aster_mm.live.startup)."""

    def __init__(self, host: str, path: str = ""):
        super().__init__(0, None, f"cannot resolve {host}", path)
        self.host = host

    @staticmethod
    def behind(err: aiohttp.ClientConnectorError) -> bool:
        """Whether a failed connection is a name that did not resolve: aiohttp 3.10+ says so by the error's
        type, older ones by the resolver's socket.gaierror."""
        return isinstance(err, getattr(aiohttp, "ClientConnectorDNSError", ())) or isinstance(
            err.os_error, socket.gaierror
        )


class UnknownOutcomeError(ExchangeError):
    """The request may or may not have executed (503, -1006/-1007, timeout, dropped connection)."""


class RateLimitError(ExchangeError):
    """HTTP 429, or a request refused locally while a back-off is in force."""

    def __init__(self, status: int, code: int | None, msg: str, path: str = "", retry_after: float = 0.0):
        super().__init__(status, code, msg, path)
        self.retry_after = retry_after


class WafLimitError(RateLimitError):
    """HTTP 403: the exchange's web application firewall is limiting us; not a credential problem."""


class BannedError(RateLimitError):
    """HTTP 418: the IP is banned until `retry_after` seconds from now. Nothing may be sent."""
