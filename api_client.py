"""The Aster futures REST client, importable as `api_client` as it always was; it lives in aster_mm.exchange."""

from aster_mm.core.rules import SymbolRules
from aster_mm.exchange.client import (
    AsterClient,
    BannedError,
    ExchangeError,
    RateLimitError,
    RetryPolicy,
    UnknownOutcomeError,
    WafLimitError,
    decimal_str,
    sign,
)

__all__ = [
    "AsterClient",
    "BannedError",
    "ExchangeError",
    "RateLimitError",
    "RetryPolicy",
    "SymbolRules",
    "UnknownOutcomeError",
    "WafLimitError",
    "decimal_str",
    "sign",
]
