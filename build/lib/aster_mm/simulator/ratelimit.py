"""The documented rate limits, enforced (V3 doc, "LIMITS"):

  "Every request will contain X-MBX-USED-WEIGHT-(intervalNum)(intervalLetter) in the response headers which
   has the current used weight for the IP for all request rate limiters defined."
  "A 429 will be returned when either rate limit is violated."
  "Repeatedly violating rate limits and/or failing to back off after receiving 429s will result in an
   automated IP ban (HTTP status 418)." "IP bans are tracked and scale in duration for repeat offenders,
   from 2 minutes to 3 days." "The limits on the API are based on the IPs, not the API keys."
  "Every order response will contain a X-MBX-ORDER-COUNT-(intervalNum)(intervalLetter) header which has the
   current order count for the account" "The order rate limit is counted against each account".

Readings (docs/simulator.md): windows are calendar minutes of the server clock, and a request over the
limit is refused without running (A32); Retry-After only if selected (A32); when a ban starts and how it
grows (A33); what counts as an order (A34). With `limits` None the weight is counted and shown, nothing
is refused. The simulator has one account, so ORDERS is one counter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .options import RateLimits

Refusal = tuple[int, Any, dict]  # (HTTP status, body, headers)


@dataclass
class IpState:
    minute: int = -1
    weight: int = 0
    strikes: int = 0  # 429s this minute
    bans: int = 0  # bans so far: each one lasts twice as long as the one before
    banned_until: float = 0.0


class RateLimiter:
    def __init__(self, limits: RateLimits | None, clock: Callable[[], float]):
        self.limits, self._clock = limits, clock
        self._ips: dict[str, IpState] = {}
        self._orders = (-1, 0)  # (minute, orders placed)

    def _ip(self, ip: str) -> IpState:
        state = self._ips.setdefault(ip, IpState())
        minute = int(self._clock() // 60)
        if state.minute != minute:
            state.minute, state.weight, state.strikes = minute, 0, 0
        return state

    def headers(self, ip: str) -> dict:
        return {"X-MBX-USED-WEIGHT-1M": str(self._ip(ip).weight)}

    def order_headers(self) -> dict:
        return {"X-MBX-ORDER-COUNT-1M": str(self._order_count())}

    def _order_count(self) -> int:
        minute = int(self._clock() // 60)
        return self._orders[1] if self._orders[0] == minute else 0

    def admit(self, ip: str, weight: int) -> Refusal | None:
        """Count a request's weight; the refusal if the IP is banned or over its limit, else None."""
        state, now = self._ip(ip), self._clock()
        if now < state.banned_until:
            until = int(state.banned_until * 1000)
            body = {
                "code": -1003,
                "msg": f"Way too many requests; IP banned until {until}. "
                "Please use the websocket for live updates to avoid bans.",
            }
            return 418, body, self._retry_after(state.banned_until - now)
        state.weight += weight
        if self.limits is None or state.weight <= self.limits.weight_per_minute:
            return None
        body = {
            "code": -1003,
            "msg": f"Too many requests; current limit is {self.limits.weight_per_minute} requests per minute. "
            "Please use the websocket for live updates to avoid polling the API.",
        }
        return self._too_many(state, body)

    def admit_orders(self, ip: str, count: int) -> Refusal | None:
        """Count `count` new orders of the account; the refusal if that passes the ORDERS limit."""
        if count <= 0:
            return None
        minute = int(self._clock() // 60)
        self._orders = (minute, self._order_count() + count)
        if self.limits is None or self._orders[1] <= self.limits.orders_per_minute:
            return None
        body = {
            "code": -1015,
            "msg": f"Too many new orders; current limit is {self.limits.orders_per_minute} orders per MINUTE.",
        }
        return self._too_many(self._ip(ip), body)

    def _too_many(self, state: IpState, body: dict) -> Refusal:
        assert self.limits is not None
        now = self._clock()
        state.strikes += 1
        if state.strikes >= self.limits.ban_after:  # the next request meets the ban
            state.banned_until = now + min(self.limits.first_ban_s * 2**state.bans, self.limits.max_ban_s)
            state.bans += 1
            state.strikes = 0
        return 429, body, self._retry_after(60 - now % 60)

    def _retry_after(self, seconds: float) -> dict:
        if self.limits is None or not self.limits.retry_after:
            return {}
        return {"Retry-After": str(max(1, math.ceil(seconds)))}
