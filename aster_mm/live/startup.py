"""Start-up against a struggling exchange: keep trying what may pass (the network, 5xx, 403/429/418
limits) until a deadline, give up at once on what will not (rejected credentials, an unknown symbol); the
line the bot logs once started; and the helpers of its life cycle that read no state of their own.

A host name that does not resolve is told apart from a struggling exchange: DNS gave no address, so nothing
was sent anywhere. A refused or timed-out connection, a 5xx or a limit comes from a host that exists and may
recover in a minute; no DNS answer at start means no network, a mistyped ASTER_REST_URL or a wrong --network,
which waiting does not fix. It is retried only for a short grace (a resolver's blip), then the start fails
with one line naming the host and what to check."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aster_mm.core import codes
from aster_mm.core.errors import FatalError
from aster_mm.core.rules import SymbolRules
from aster_mm.core.state import StrategyState
from aster_mm.exchange.client import AsterClient, ExchangeError, HostNotFoundError, RateLimitError, UnknownOutcomeError

log = logging.getLogger("mm")
T = TypeVar("T")


def fatal_reason(err: ExchangeError) -> str | None:
    """Why this start-up error is final, or None when trying again may help."""
    if err.code in codes.CREDENTIAL or err.status == 401:
        return f"credentials rejected by the exchange: {err.msg} (code {err.code})"
    if isinstance(err, (RateLimitError, UnknownOutcomeError)) or err.status == 0 or err.status >= 500:
        return None
    return f"cannot start: {err}"


def unresolved_reason(err: HostNotFoundError, grace: float) -> str:
    return (
        f"cannot resolve {err.host} (no DNS answer for {grace:.0f} s at start): check this machine's network "
        "connection and DNS, and the host (ASTER_REST_URL, --network)"
    )


async def retry_until(
    action: Callable[[], Awaitable[T]],
    timeout: float,
    max_pause: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    unresolved_grace: float = 5.0,
) -> T:
    """Run `action` until it succeeds; FatalError on a final error, when `timeout` seconds have passed, or
    when the host's name has not resolved for `unresolved_grace` seconds in a row."""
    deadline, pause = clock() + timeout, 0.5
    unresolved_until: float | None = None  # while the name does not resolve: when to give up on it
    while True:
        try:
            return await action()
        except ValueError as err:
            raise FatalError(str(err)) from None
        except ExchangeError as err:
            reason = fatal_reason(err)
            if reason is not None:
                raise FatalError(reason) from None
            unresolved = isinstance(err, HostNotFoundError)
            if not unresolved:
                unresolved_until = None
            elif unresolved_until is None:
                unresolved_until = clock() + unresolved_grace
            left = (deadline if unresolved_until is None else min(deadline, unresolved_until)) - clock()
            if left <= 0 and isinstance(err, HostNotFoundError):
                raise FatalError(unresolved_reason(err, min(timeout, unresolved_grace))) from None
            if left <= 0:
                raise FatalError(f"exchange unavailable for {timeout:.0f} s at start: {err}") from None
            wait = min(max(pause, getattr(err, "retry_after", 0.0)), left)
            log.warning("start-up failed (%s): retrying in %.1f s, giving up in %.0f s", err, wait, left)
            await sleep(wait)
            pause = min(pause * 2, max_pause)


def first_leaf(group: BaseExceptionGroup[FatalError]) -> FatalError:
    """The first fatal error in `group`, however deeply nested (a task may raise a group of its own)."""
    first = group.exceptions[0]
    return first if isinstance(first, FatalError) else first_leaf(first)


def log_started(symbol: str, run_id: str, rules: SymbolRules, st: StrategyState, venue: str, model: str) -> None:
    """The start line; `venue` says what the bot trades on: the simulator, paper trading, or a host as a key;
    `model` the quote model and side (the default model changed once: a restarted unit says which it runs)."""
    log.info(
        "started %s run %s %s: model=%s tick=%s step=%s min_notional=%s max_qty=%s position=%s available=%s "
        "leverage=%s margin=%s fees=%s/%s",
        symbol,
        run_id,
        venue,
        model,
        rules.tick,
        rules.step,
        rules.min_notional,
        rules.max_qty,
        st.position.amount,
        st.available,
        st.leverage,
        st.margin_type,
        st.fees.maker,
        st.fees.taker,
    )


def rate_limit_text(client: AsterClient) -> str:
    """The status line's part about the exchange's rate limits: a ban or a back-off in force ("" when none)."""
    banned, blocked = client.banned_for(), client.blocked_for()
    if banned > 0:
        until = time.strftime("%H:%M:%S", time.gmtime(time.time() + banned))
        return f"IP-BANNED=until {until} UTC ({banned:.0f}s, HTTP 418: nothing is sent)"
    return f"rate-limited=({blocked:.0f}s back-off, HTTP 429: nothing is sent)" if blocked > 0 else ""
