"""Modify Order (PUT /fapi/v3/order), V3 doc "Modify Order (TRADE)":

  "Either orderId or origClientOrderId must be sent. If both are sent, orderId takes precedence."
  "Both quantity and price must be sent."
  "If the new quantity or price does not meet PRICE_FILTER / PERCENT_FILTER / LOT_SIZE restrictions, the
   modification will be rejected and the original order will remain."
  "Only LIMIT order type is supported."  "Maximum 10000 modifications per order."

The docs define no error code for any of it and say nothing more, so every other behaviour is a reading
(docs/simulator.md): `quantity` is the new total, at most what is already executed is refused (A14); a change
puts the order at the back of its price's queue (A15); a post-only order that would cross expires, or is
refused with the order left as it was (A16, `Readings.modify_cross`); a GTC order that would cross takes, as
a new order would (A17); a modification that changes nothing is answered with the order (A18,
`Readings.modify_same`); the 10,001st is refused (A19); the user stream reports it as `x` NEW (A20,
`Readings.modify_event`). The answer is the order after the modification, whatever newOrderRespType
says (A21).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .orders import Order, check_filters
from .wire import ApiError, dec_param, invalid

if TYPE_CHECKING:
    from .engine import Engine


async def modify(engine: Engine, params: dict) -> Order:
    order = engine.find_order(params, ApiError(-2013, "Order does not exist."))
    if not order.is_open:
        raise ApiError(-2013, "Order does not exist.")
    qty, price = dec_param(params, "quantity"), dec_param(params, "price")
    engine.refuse_if_frozen(order.symbol)
    check_filters(order.spec, order.side, price, qty, order.reduce_only, engine.accounts.mark(order.symbol))
    if qty <= order.executed:
        raise invalid("quantity")  # A14: nothing would be left to rest
    readings = engine.readings
    if order.modifications >= engine.max_modifications:
        raise ApiError(*readings.modify_limit_error)
    if (price, qty) == (order.price, order.qty):
        if readings.modify_same == "reject":
            raise ApiError(*readings.modify_same_error)
        order.modifications += 1
        return order
    crosses = engine.crosses(order.symbol, order.side, price)
    if crosses and order.tif == "GTX" and readings.modify_cross == "reject":
        raise ApiError(*readings.post_only_error)
    order.price, order.qty, order.modifications = price, qty, order.modifications + 1
    order.update_time = engine.clock.now_ms()
    engine.requeue(order)  # A15: back of the queue, as a new order would be
    engine.journal.notify()
    if readings.modify_event != "none":
        await engine.push_order_update(order, readings.modify_event)
    if crosses:
        await engine.match(order)  # GTX expires (A16); GTC takes (A17), self-trade prevention first
    return order
