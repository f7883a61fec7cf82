"""The exchange's rate limits, kept by the client: pace order requests before a limit is reached, back off
after a 429, wait out a 418 ban. Plain bookkeeping over the times the client passes in; no I/O.

V3 doc, "LIMITS" (the same in V1): the `rateLimits` of exchangeInfo are REQUEST_WEIGHT 2400 per minute
("The limits on the API are based on the IPs, not the API keys") and ORDERS 1200 per minute ("The order
rate limit is counted against each account"); "Every request will contain X-MBX-USED-WEIGHT-(intervalNum)
(intervalLetter) in the response headers which has the current used weight for the IP"; "Every order
response will contain a X-MBX-ORDER-COUNT-(intervalNum)(intervalLetter) header" but "Rejected/unsuccessful
orders are not guaranteed to have X-MBX-ORDER-COUNT-** headers", so placements are also counted here; "When
a 429 is received, it's your obligation as an API to back off and not spam the API"; "Repeatedly violating
rate limits and/or failing to back off after receiving 429s will result in an automated IP ban (HTTP status
418)", "from 2 minutes to 3 days". The -1003 message of a ban says "IP banned until %s".

What the docs leave open, and the readings taken here (docs/exchange.md, "Rate limits"): the interval is
"MINUTE", taken as the calendar minute of the exchange's clock (a counter that resets when the minute
turns; a sliding window would reset later, which the exponential back-off covers); `Retry-After` is not
documented: when it comes it is obeyed, else the back-off doubles with each 429 of the last ten minutes and
lasts at least until the minute turns; whether modifications count as orders is not said: the header, when
it comes, is believed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

WEIGHT_LIMIT = 2400  # exchangeInfo REQUEST_WEIGHT, per minute per IP
ORDER_LIMIT = 1200  # exchangeInfo ORDERS, per minute per account
SOFT = 0.5  # order requests spend half a minute's budget freely, the rest no faster than the minute passes
WEIGHT_RESERVE = 0.1  # of the weight budget, kept for cancels, reconciliation and the dead-man switch
ORDER_RESERVE = 0.05  # of the ORDERS limit, kept for closing orders
BACKOFF_FIRST_S, BACKOFF_MAX_S = 10.0, 300.0  # a 429 without Retry-After: 10 s, doubling, at most 5 minutes
STRIKE_MEMORY_S = 600.0  # ten minutes without a 429 after a back-off ends: the doubling starts again
BAN_DEFAULT_S = 120.0  # a 418 that says nothing of its end: the docs' shortest ban, "2 minutes"
MINUTE_MS = 60_000
MARGIN_S = 0.25  # past the turn of the minute, for clocks a little apart
BANNED_UNTIL = re.compile(r"banned until (\d{10,})")


def pace_wait(need: int, limit: int, into_minute: float) -> float:
    """Seconds to wait before `need` (the minute's use including this request) fits under `limit`, when a
    fraction SOFT of it may be spent at once and the rest accrues as the minute (`into_minute`, 0..1) passes."""
    if limit <= 0:
        return (1 - into_minute) * 60 + MARGIN_S
    allowed = limit * (SOFT + (1 - SOFT) * into_minute)
    if need <= allowed:
        return 0.0
    needed_at = (need / limit - SOFT) / (1 - SOFT)
    if needed_at >= 1:
        return (1 - into_minute) * 60 + MARGIN_S  # the next minute: the count starts again
    return (needed_at - into_minute) * 60


def backoff_after_429(strikes: int, retry_after: float | None, into_minute: float) -> float:
    """How long to send nothing after the `strikes`-th 429 in a row: the exchange's Retry-After when it sends
    one; else 10 s doubling per strike up to 5 minutes, and at least until the minute turns (the counters reset
    then; a 429 every few seconds within one minute is what earns a ban)."""
    if retry_after is not None:
        return retry_after
    exponential = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(strikes - 1, 0))
    return max(exponential, (1 - into_minute) * 60 + MARGIN_S)


def ban_length(msg: str, server_ms: float, retry_after: float | None) -> float:
    """Seconds a 418 bans the IP: from "IP banned until <ms>" when the message says it (exchange time), else
    Retry-After, else the docs' shortest ban."""
    found = BANNED_UNTIL.search(msg)
    if found:
        return max(0.0, (int(found.group(1)) - server_ms) / 1000) + MARGIN_S
    return retry_after if retry_after is not None else BAN_DEFAULT_S


@dataclass
class PerMinute:
    """A count that starts again each minute: the exchange's figure (a header) or ours, whichever is larger."""

    minute: int = -1
    used: int = 0

    def at(self, minute: int) -> int:
        return self.used if minute == self.minute else 0

    def see(self, minute: int, value: int) -> None:
        self.used = max(self.at(minute), value)
        self.minute = minute

    def add(self, minute: int, n: int = 1) -> None:
        self.see(minute, self.at(minute) + n)


@dataclass
class RateGate:
    """What the client knows of the limits and what it may send. Times: `now` in the client's clock seconds,
    `server_ms` the exchange's clock in milliseconds."""

    weight_budget: int | None = None  # --weight-budget: the IP's weight this bot stays under (several bots)
    weight_limit: int = WEIGHT_LIMIT
    order_limit: int = ORDER_LIMIT
    weight: PerMinute = field(default_factory=PerMinute)
    orders: PerMinute = field(default_factory=PerMinute)
    blocked_until: float = 0.0  # nothing is sent before this (now seconds)
    banned_until: float = 0.0  # within blocked_until: an IP ban (418)
    strikes: int = 0  # 429s in a row (none ten minutes after the last back-off ended starts again)
    counts: dict[int, int] = field(default_factory=lambda: {429: 0, 418: 0})  # rate-limit answers so far

    @property
    def budget(self) -> int:
        return min(self.weight_limit, self.weight_budget or self.weight_limit)

    def read_limits(self, info: dict) -> None:
        """The limits exchangeInfo publishes (`rateLimits`), when it does."""
        for limit in info.get("rateLimits") or []:
            if limit.get("interval") != "MINUTE" or limit.get("intervalNum", 1) != 1:
                continue
            if limit.get("rateLimitType") == "REQUEST_WEIGHT":
                self.weight_limit = int(limit["limit"])
            elif limit.get("rateLimitType") == "ORDERS":
                self.order_limit = int(limit["limit"])

    def on_answer(self, server_ms: float, used_weight: str | None, order_count: str | None) -> None:
        minute = int(server_ms // MINUTE_MS)
        if used_weight and used_weight.isdigit():
            self.weight.see(minute, int(used_weight))
        if order_count and order_count.isdigit():
            self.orders.see(minute, int(order_count))

    def count_order(self, server_ms: float) -> None:
        """A placement is being sent: counted now, since a refused one may carry no header."""
        self.orders.add(int(server_ms // MINUTE_MS))

    def used_weight(self, server_ms: float) -> int | None:
        minute = int(server_ms // MINUTE_MS)
        return self.weight.at(minute) if self.weight.minute >= 0 else None

    def order_wait(self, server_ms: float, counts_order: bool) -> float:
        """Seconds until an order request (one weight; one order too when it `counts_order`) may go out."""
        minute, into = int(server_ms // MINUTE_MS), (server_ms % MINUTE_MS) / MINUTE_MS
        weight_room = int(self.budget * (1 - WEIGHT_RESERVE))
        wait = pace_wait(self.weight.at(minute) + 1, weight_room, into)
        if counts_order:
            order_room = int(self.order_limit * (1 - ORDER_RESERVE))
            wait = max(wait, pace_wait(self.orders.at(minute) + 1, order_room, into))
        return wait

    def blocked_for(self, now: float) -> float:
        return max(0.0, self.blocked_until - now)

    def banned_for(self, now: float) -> float:
        return max(0.0, self.banned_until - now)

    def on_429(self, now: float, server_ms: float, retry_after: float | None) -> float:
        """Note a 429; the seconds to send nothing."""
        self.counts[429] += 1
        self.strikes = 1 if now - self.blocked_until > STRIKE_MEMORY_S else self.strikes + 1
        wait = backoff_after_429(self.strikes, retry_after, (server_ms % MINUTE_MS) / MINUTE_MS)
        self.blocked_until = max(self.blocked_until, now + wait)
        return wait

    def on_418(self, now: float, server_ms: float, msg: str, retry_after: float | None) -> float:
        """Note an IP ban; the seconds it lasts."""
        self.counts[418] += 1
        wait = ban_length(msg, server_ms, retry_after)
        self.banned_until = max(self.banned_until, now + wait)
        self.blocked_until = max(self.blocked_until, self.banned_until)
        return wait

    def on_waf(self, now: float, wait: float) -> None:
        self.blocked_until = max(self.blocked_until, now + wait)
