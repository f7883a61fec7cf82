"""Every exchange error code the bot reacts to, named as the docs name it, and the groups it reacts to.

Messages are the docs' own (V3 doc, "Error Codes"; docs/exchange.md links it). A new
code is one line in `ErrorCode` (and, if it joins a group, one name in that group's frozenset).
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    UNEXPECTED_RESP = -1006  # "An unexpected response was received from the message bus. Execution status unknown."
    TIMEOUT = -1007  # "Timeout waiting for response from backend server. ... execution status unknown."
    INVALID_MESSAGE = -1013  # "INVALID_MESSAGE." (a filter failure on Binance-style APIs)
    INVALID_TIMESTAMP = -1021  # "Timestamp for this request is outside of the recvWindow." (V1 and testnet lists)
    INVALID_SIGNATURE = -1022  # "Signature for this request is not valid."
    PARAM_NOT_REQUIRED = -1106  # "A parameter was sent when not required." (reduceOnly in hedge mode)
    BAD_PRECISION = -1111  # "Precision is over the maximum defined for this asset."
    CANCEL_REJECTED = -2011  # "CANCEL_REJECTED" (the order is not open)
    NO_SUCH_ORDER = -2013  # "Order does not exist."
    BAD_API_KEY_FMT = -2014  # "API-key format invalid."
    REJECTED_MBX_KEY = -2015  # "Invalid API-key, IP, or permissions for action."
    MARGIN_NOT_SUFFICIENT = -2019  # "Margin is insufficient."
    REDUCE_ONLY_REJECT = -2022  # "ReduceOnly Order is rejected."
    QTY_LESS_THAN_ZERO = -4003  # "Quantity less than zero."
    QTY_GREATER_THAN_MAX_QTY = -4005  # "Quantity greater than max quantity."
    PRICE_NOT_INCREASED_BY_TICK_SIZE = -4014  # "Price not increased by tick size."
    NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046  # "No need to change margin type."
    POSITION_SIDE_NOT_MATCH = -4061  # "Order's position side does not match user's setting."
    REDUCE_ONLY_ORDER_PERMISSION = -4087  # "User can only place reduce only order"
    INVALID_OPENING_POSITION_STATUS = -4140  # "Invalid symbol status for opening position"
    MIN_NOTIONAL = -4164  # "Order's notional must be no smaller than 5.0 (unless you choose reduce only)"
    NONCE_EXPIRED = -4225  # "Nonce Expired" (V3 doc, the Noop example's output; not in the error table)


E = ErrorCode
# A cancel or query of an order the exchange no longer has open, or never had.
GONE = frozenset({E.CANCEL_REJECTED, E.NO_SUCH_ORDER})
# The exchange does not know whether it executed the request.
UNKNOWN = frozenset({E.UNEXPECTED_RESP, E.TIMEOUT})
# A definite refusal of the request's time: -1021 on V1; V3's only nonce code is -4225, and a nonce out of
# the server's window may come as -1021 as on V1. Nothing executed, so even a placement may be sent again.
NONCE = frozenset({E.NONCE_EXPIRED, E.INVALID_TIMESTAMP})
# A symbol rule the order broke: the rules may have changed, re-read them.
FILTER = frozenset(
    {
        E.BAD_PRECISION,
        E.INVALID_MESSAGE,
        E.PRICE_NOT_INCREASED_BY_TICK_SIZE,
        E.QTY_LESS_THAN_ZERO,
        E.QTY_GREATER_THAN_MAX_QTY,
        E.MIN_NOTIONAL,
    }
)
# The symbol's status refuses opening orders: re-read the rules (and the status in them).
SYMBOL_STATUS = frozenset({E.INVALID_OPENING_POSITION_STATUS})
# The account is in hedge mode after all (positionSide required, reduceOnly refused): re-read its modes.
POSITION_MODE = frozenset({E.POSITION_SIDE_NOT_MATCH, E.PARAM_NOT_REQUIRED})
# The account may only reduce: close-only.
REDUCE_ONLY_ACCOUNT = frozenset({E.REDUCE_ONLY_ORDER_PERMISSION})
# The credentials are wrong: starting again will not help.
CREDENTIAL = frozenset({E.BAD_API_KEY_FMT, E.REJECTED_MBX_KEY, E.INVALID_SIGNATURE})
