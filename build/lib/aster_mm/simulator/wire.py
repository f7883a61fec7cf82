"""What the simulator puts on the wire: decimal formatting, request parameter parsing, error bodies.

Prices, quantities and balances are Decimals inside the simulator and plain decimal strings on the
wire; every error answer is an `ApiError` carrying the exchange's code, message and HTTP status.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

D = Decimal
ZERO = Decimal(0)

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
    return max(0, -unit.normalize().as_tuple().exponent)


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
