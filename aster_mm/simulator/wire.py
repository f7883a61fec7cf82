"""What the simulator puts on the wire: decimal formatting, request parameter parsing, error bodies.

Prices, quantities and balances are Decimals inside the simulator and plain decimal strings on the
wire; every error answer is an `ApiError` carrying the exchange's code, message and HTTP status.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

D = Decimal
ZERO = Decimal(0)

# Bodies of injected faults. The docs give none for 403 (the WAF), 418 or 429 (docs/simulator.md, A6);
# a test that needs another passes its own.
DEFAULT_FAULT_BODIES = {
    429: (-1003, "Too many requests; current limit is 2400 requests per minute."),
    418: (-1003, "Way too many requests; IP banned."),
    403: (-1002, "You are not authorized to execute this request."),
    401: (-2015, "Invalid API-key, IP, or permissions for action."),
    400: (-1000, "An unknown error occured while processing the request."),
}
UNKNOWN_OUTCOME = (-1006, "An unexpected response was received from the message bus. Execution status unknown.")
DOWN_BODY = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}


def fmt(d: Any) -> str:
    """Decimal -> plain string, no exponent, no trailing zeros ("2500.1", "10000", "0")."""
    d = to_dec(d) + 0  # + 0 turns -0 into 0
    return format(d.normalize(), "f") if d else "0"


def fmt_unit(d: Any, unit: Decimal) -> str:
    """Format with the decimals of `unit` (tick or step) when exact: "2500.10", "1.000"."""
    d = to_dec(d) + 0
    q = d.quantize(unit)
    return format(q, "f") if q == d else fmt(d)


def to_dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else D(str(value))


def decimals(unit: Decimal) -> int:
    exponent = unit.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class ApiError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400):
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def mandatory(params: dict, name: str) -> str:
    value = params.get(name)
    if value in (None, ""):
        raise ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def dec_param(params: dict, name: str) -> Decimal:
    try:
        value = D(mandatory(params, name))
    except InvalidOperation:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite():
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


def int_param(params: dict, name: str) -> int | None:
    """An optional integer parameter (LONG/INT in the docs' tables); None when not sent."""
    value = params.get(name)
    if value in (None, ""):
        return None
    if not str(value).lstrip("-").isdigit():
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.")
    return int(value)


def limit_param(params: dict, default: int, maximum: int) -> int:
    """`limit`: "Default <default>; max <maximum>." as most list endpoints document it."""
    limit = int_param(params, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def invalid(name: str) -> ApiError:
    """-1130 INVALID_PARAMETER, "Data sent for parameter '%s' is not valid."."""
    return ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")


def not_simulated(method: str, path: str) -> ApiError:
    """What the simulator answers for anything it does not model, documented or not: HTTP 404 and
    -1020 UNSUPPORTED_OPERATION, with a message that says so (docs/simulator.md, "What it models")."""
    return ApiError(
        -1020, f"This operation is not supported by the simulator: {method} {path} (not simulated)", status=404
    )
