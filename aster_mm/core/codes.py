"""Every exchange error code the bot reacts to, named as the docs name it, and the groups it reacts to.

Messages are the docs' own (V3 doc, "Error Codes"; docs/exchange.md links it). A new code is one line in
`ErrorCode` (and, if it joins a group, one name in that group's frozenset). Codes the docs define
differently from Binance are taken as the docs define them: -1013 is INVALID_MESSAGE on Aster, not a filter
failure, so it joins no group.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    TOO_MANY_REQUESTS = -1003  # "Too many requests; ..." // "Way too many requests; IP banned until %s. ..."
    UNEXPECTED_RESP = -1006  # "An unexpected response was received from the message bus. Execution status unknown."
    TIMEOUT = -1007  # "Timeout waiting for response from backend server. ... execution status unknown."
    TOO_MANY_ORDERS = -1015  # "Too many new orders; current limit is %s orders per %s."
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
    USER_IN_LIQUIDATION = -2023  # "User in liquidation mode now."
    MAX_OPEN_ORDER_EXCEEDED = -2025  # "Reach max open order limit." (MAX_NUM_ORDERS)
    PRICE_GREATER_THAN_MAX_PRICE = -4002  # "Price greater than max price." (PRICE_FILTER maxPrice)
    QTY_LESS_THAN_ZERO = -4003  # "Quantity less than zero."
    QTY_LESS_THAN_MIN_QTY = -4004  # "Quantity less than min quantity." (LOT_SIZE minQty)
    QTY_GREATER_THAN_MAX_QTY = -4005  # "Quantity greater than max quantity."
    PRICE_LESS_THAN_MIN_PRICE = -4013  # "Price less than min price." (PRICE_FILTER minPrice)
    PRICE_NOT_INCREASED_BY_TICK_SIZE = -4014  # "Price not increased by tick size."
    PRICE_HIGHTER_THAN_MULTIPLIER_UP = -4016  # "Price is higher than mark price multiplier cap." (PERCENT_PRICE)
    WRONG_MARKET_STATUS = -4022  # "market status sent is not valid."
    QTY_NOT_INCREASED_BY_STEP_SIZE = -4023  # "Qty not increased by step size." (LOT_SIZE stepSize)
    PRICE_LOWER_THAN_MULTIPLIER_DOWN = -4024  # "Price is lower than mark price multiplier floor." (PERCENT_PRICE)
    NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046  # "No need to change margin type."
    POSITION_SIDE_NOT_MATCH = -4061  # "Order's position side does not match user's setting."
    REDUCE_ONLY_ORDER_PERMISSION = -4087  # "User can only place reduce only order"
    NO_PLACE_ORDER_PERMISSION = -4088  # "User can not place order currently" (also how an MMP freeze may show)
    INVALID_OPENING_POSITION_STATUS = -4140  # "Invalid symbol status for opening position"
    SYMBOL_ALREADY_CLOSED = -4141  # "Symbol is closed"
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
# A rate limit, whatever HTTP status carries it (the docs pair them with 429 but do not say so per code).
RATE_LIMIT = frozenset({E.TOO_MANY_REQUESTS, E.TOO_MANY_ORDERS})
# A symbol rule the order broke (V3 doc, "Filters"): the rules may have changed, re-read them at once.
FILTER = frozenset(
    {
        E.BAD_PRECISION,
        E.PRICE_GREATER_THAN_MAX_PRICE,
        E.QTY_LESS_THAN_ZERO,
        E.QTY_LESS_THAN_MIN_QTY,
        E.QTY_GREATER_THAN_MAX_QTY,
        E.PRICE_LESS_THAN_MIN_PRICE,
        E.PRICE_NOT_INCREASED_BY_TICK_SIZE,
        E.PRICE_HIGHTER_THAN_MULTIPLIER_UP,
        E.QTY_NOT_INCREASED_BY_STEP_SIZE,
        E.PRICE_LOWER_THAN_MULTIPLIER_DOWN,
        E.MIN_NOTIONAL,
    }
)
# The symbol's status refuses opening orders: re-read the rules (and the status in them).
SYMBOL_STATUS = frozenset({E.INVALID_OPENING_POSITION_STATUS})
# The symbol is closed, or not in a status that takes orders, whatever exchangeInfo said: close-only, and a
# bounded retry of an opening order now and then (the docs do not say when either is sent).
MARKET_CLOSED = frozenset({E.SYMBOL_ALREADY_CLOSED, E.WRONG_MARKET_STATUS})
# The account may not place orders now (an account block, or an MMP freeze: the docs do not say how one
# reports itself): no opening orders, a bounded retry.
NO_PERMISSION = frozenset({E.NO_PLACE_ORDER_PERMISSION})
# The account is in hedge mode after all (positionSide required, reduceOnly refused): re-read its modes.
POSITION_MODE = frozenset({E.POSITION_SIDE_NOT_MATCH, E.PARAM_NOT_REQUIRED})
# The account may only reduce: close-only.
REDUCE_ONLY_ACCOUNT = frozenset({E.REDUCE_ONLY_ORDER_PERMISSION})
# The exchange is liquidating the account: close-only, as after a liquidation fill.
LIQUIDATING = frozenset({E.USER_IN_LIQUIDATION})
# More orders open on the symbol than it allows: orders the bot does not know are open; look for them.
TOO_MANY_OPEN = frozenset({E.MAX_OPEN_ORDER_EXCEEDED})
# The credentials are wrong: starting again will not help.
CREDENTIAL = frozenset({E.BAD_API_KEY_FMT, E.REJECTED_MBX_KEY, E.INVALID_SIGNATURE})
