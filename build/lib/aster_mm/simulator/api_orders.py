"""Order endpoints (V3 doc, "Account/Trades Endpoints": New Order, Modify Order, Place Multiple Orders, Query
Order, Cancel Order, Cancel All Open Orders, Cancel Multiple Orders, Auto-Cancel All Open Orders, Query
Current Open Order, Current All Open Orders, All Orders)."""

from __future__ import annotations

from .modify import modify
from .orders import Order
from .resource import Resource
from .routes import parse_list
from .wire import ApiError, int_param, limit_param, mandatory

SEVEN_DAYS_MS = 7 * 86_400_000
RESPONSE_TYPES = ("ACK", "RESULT")  # "newOrderRespType | ENUM | NO | "ACK", "RESULT", default "ACK""


class OrderApi(Resource):
    async def new_order(self, params: dict) -> dict:
        """New Order. The doc's only words on the two answers: "If newOrderRespType is sent as RESULT: ...
        LIMIT order with special timeInForce: the final status result of the order (FILLED or EXPIRED) will
        be returned directly." ACK answers the order as accepted, before matching (A8)."""
        resp_type = params.get("newOrderRespType") or "ACK"
        if resp_type not in RESPONSE_TYPES:
            raise ApiError(-1136, "Invalid newOrderRespType.")
        order = await self._engine.place(params, ack=resp_type == "ACK")
        return order.accepted_dict() if resp_type == "ACK" else order.to_dict()

    async def modify_order(self, params: dict) -> dict:
        return (await modify(self._engine, params)).to_dict()

    async def batch_orders(self, params: dict) -> list:
        """Place Multiple Orders: "order list. Max 5 orders"; "The order of returned contents for batch
        orders is the same as the order of the order list." Each item answers its order or its error (A44)."""
        try:
            batch = parse_list(mandatory(params, "batchOrders"))
        except (ValueError, SyntaxError):
            raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
        if not 1 <= len(batch) <= 5 or not all(isinstance(item, dict) for item in batch):
            raise ApiError(-4082, f"Invalid number of batch place orders: {len(batch)}")
        results: list = []
        for item in batch:
            try:
                results.append(await self.new_order({k: str(v) for k, v in item.items()}))
            except ApiError as err:
                results.append(err.body())
        return results

    async def cancel_order(self, params: dict) -> dict:
        order = self._engine.find_order(params, ApiError(-2011, "Unknown order sent."))
        if not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        await self._engine.finish(order, "CANCELED")
        return order.to_dict()

    async def batch_cancel(self, params: dict) -> list:
        """Cancel Multiple Orders: "orderIdList | LIST | NO | max length 10"; "Either orderIdList or
        origClientOrderIdList must be sent."."""
        symbol = self._symbol(params)
        try:
            ids = parse_list(params.get("orderIdList") or "[]")
            cids = parse_list(params.get("origClientOrderIdList") or "[]")
        except (ValueError, SyntaxError):
            raise ApiError(-1130, "Data sent for parameter 'orderIdList' is not valid.") from None
        if not ids and not cids:
            raise ApiError(
                -1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, but both were empty/null!"
            )
        if len(ids) > 10 or len(cids) > 10:
            raise ApiError(-4032, "Exceed maximum cancel order size.")
        results: list = []
        for key, value in [("orderId", str(i)) for i in ids] + [("origClientOrderId", str(c)) for c in cids]:
            try:
                results.append(await self.cancel_order({"symbol": symbol, key: value}))
            except ApiError as err:
                results.append(err.body())
        return results

    def _vanished(self, order: Order) -> bool:
        """Query Order / All Orders: "These orders will not be found: order status is CANCELED or EXPIRED, AND
        order has NO filled trade, AND created time + 7 days < current time"."""
        return (
            order.status in ("CANCELED", "EXPIRED") and not order.executed and order.time + SEVEN_DAYS_MS < self._now()
        )

    async def query_order(self, params: dict) -> dict:
        missing = ApiError(-2013, "Order does not exist.")
        order = self._engine.find_order(params, missing)
        if self._vanished(order):
            raise missing
        return order.to_dict()

    async def open_order(self, params: dict) -> dict:
        """Query Current Open Order: "If the queried order has been filled or cancelled, the error message
        "Order does not exist." will be returned."."""
        missing = ApiError(-2013, "Order does not exist.")
        order = self._engine.find_order(params, missing)
        if not order.is_open:
            raise missing
        return order.to_dict()

    async def open_orders(self, params: dict) -> list:
        symbol = self._symbol(params) if params.get("symbol") else None
        return [o.to_dict() for o in self._engine.open(symbol)]

    async def all_orders(self, params: dict) -> list:
        """All Orders: "If orderId is set, it will get orders >= that orderId. Otherwise most recent orders are
        returned." / "The query time period must be less then 7 days( default as the recent 7 days)."."""
        symbol, limit, now = self._symbol(params), limit_param(params, 500, 1000), self._now()
        from_id, start, end = int_param(params, "orderId"), int_param(params, "startTime"), int_param(params, "endTime")
        if start is not None and end is not None and end - start > SEVEN_DAYS_MS:
            raise ApiError(-1127, "More than 168 hours between startTime and endTime.")
        orders = [o for o in self._engine.orders.values() if o.symbol == symbol and not self._vanished(o)]
        if from_id is not None:
            chosen = [o for o in orders if o.order_id >= from_id][:limit]
        elif start is not None or end is not None:
            end = now if end is None else end
            start = end - SEVEN_DAYS_MS if start is None else start
            chosen = [o for o in orders if start <= o.time <= end][:limit]
        else:
            chosen = [o for o in orders if o.time >= now - SEVEN_DAYS_MS][-limit:]
        return [o.to_dict() for o in chosen]

    async def cancel_all(self, params: dict) -> dict:
        await self._engine.cancel_all(self._symbol(params))
        # the doc's example has the code as a string here, unlike every other answer
        return {"code": "200", "msg": "The operation of cancel all open order is done."}

    async def countdown(self, params: dict) -> dict:
        symbol = self._symbol(params)
        countdown = int_param(params, "countdownTime")
        if countdown is None:
            mandatory(params, "countdownTime")
        self._engine.countdown(symbol, countdown or 0)
        return {"symbol": symbol, "countdownTime": str(countdown)}
