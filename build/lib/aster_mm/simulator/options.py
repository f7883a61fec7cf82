"""The simulator's readings of what the official docs leave open, in one place.

Every field here is an assumption listed in docs/simulator.md, section "Assumptions" (A<n> below), with
its default (the least surprising reading of the docs) and the alternative a test may select to make sure
a client copes with both. Code that acts on a reading names its A<n>. `RateLimits` holds the documented
limits ("LIMITS" in the V3 doc) plus the parts of their enforcement the docs do not describe.
"""

from __future__ import annotations

from dataclasses import dataclass

POST_ONLY_REJECTED = (
    -5022,  # Binance's code for it: Aster documents none (A9, A16), so this is opt-in only
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history",
)


@dataclass(frozen=True)
class Readings:
    nonce_window_s: float = 60.0  # A3: PR #157 (±60 s); the mirrored doc says 10 s
    nonce_key: str = "signer"  # A3: "signer" (PR #157) | "user" (mirrored doc: "each user")
    gtx_reject: bool = False  # A9: a crossing post-only order EXPIRES; True: refused with post_only_error
    post_only_error: tuple[int, str] = POST_ONLY_REJECTED  # A9, A16: the refusal, when selected
    modify_cross: str = "expire"  # A16: a modified post-only order that would cross: "expire" | "reject"
    modify_same: str = "accept"  # A18: a modification that changes nothing: "accept" | "reject"
    modify_same_error: tuple[int, str] = (-5027, "No need to modify the order.")  # A18 "reject" (Binance's)
    modify_limit_error: tuple[int, str] = (-1000, "Maximum 10000 modifications per order.")  # A19
    modify_event: str = "NEW"  # A20: the stream event of a modification: "NEW" | "AMENDMENT" | "none"
    stp_mode: str = "EXPIRE_TAKER"  # A22: the account's STP mode until it sets one
    stp_report: str = "EXPIRED"  # A23: an order STP removed ends "EXPIRED" | "CANCELED"
    mmp_freeze: str = "cancel"  # A28: "cancel" (open orders cancelled, new refused) | "refuse" (new only)
    mmp_error: tuple[int, str] = (-4088, "User can not place order currently")  # A28
    rebates: str = "commission"  # A30: a negative maker rate: "commission" (on the fill) | "reward" (paid later)

    def __post_init__(self) -> None:
        choices = {
            "nonce_key": ("signer", "user"),
            "modify_cross": ("expire", "reject"),
            "modify_same": ("accept", "reject"),
            "modify_event": ("NEW", "AMENDMENT", "none"),
            "stp_mode": STP_MODES,
            "stp_report": ("EXPIRED", "CANCELED"),
            "mmp_freeze": ("cancel", "refuse"),
            "rebates": ("commission", "reward"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")


# V3 doc, "ENUM definitions > STP Mode (stpMode)": there is no NONE
STP_MODES = ("EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")


@dataclass(frozen=True)
class RateLimits:
    """V3 doc, "LIMITS": "REQUEST_WEIGHT" 2400 per minute per IP, "ORDERS" 1200 per minute per account;
    "A 429 will be returned when either rate limit is violated"; "Repeatedly violating rate limits and/or
    failing to back off after receiving 429s will result in an automated IP ban (HTTP status 418)";
    "IP bans are tracked and scale in duration for repeat offenders, from 2 minutes to 3 days"."""

    weight_per_minute: int = 2400
    orders_per_minute: int = 1200
    retry_after: bool = False  # A32: send Retry-After on 429/418 (the futures docs never mention it)
    ban_after: int = 3  # A33: 429s to one IP within a minute before it is banned
    first_ban_s: float = 120.0  # A33: "from 2 minutes ..."
    max_ban_s: float = 3 * 86400.0  # A33: "... to 3 days", doubling for each repeat
    count_modifications: bool = False  # A34: a modification counts on ORDERS too


@dataclass(frozen=True)
class WsLimits:
    """V3 doc, "Websocket Market Streams": "A single connection is only valid for 24 hours"; "The websocket
    server will send a ping frame every 5 minutes. If the websocket server does not receive a pong frame back
    from the connection within a 15 minute period, the connection will be disconnected."; "WebSocket
    connections have a limit of 10 incoming messages per second."; "A single connection can listen to a
    maximum of 200 streams." Tests shorten them."""

    messages_per_second: int = 10  # A38
    max_streams: int = 200  # A37
    max_age_s: float = 24 * 3600.0  # A39
    ping_every_s: float = 300.0  # A41
    pong_timeout_s: float = 900.0  # A41


DOCUMENTED_LIMITS = RateLimits()
DOCUMENTED_WS_LIMITS = WsLimits()
DEFAULT_READINGS = Readings()
