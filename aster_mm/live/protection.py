"""The exchange's own safety features, set up and watched, and what the bot does when the exchange refuses
its orders outright.

At start: the account's commission rates (GET /fapi/v3/commissionRate, V1 /fapi/v1/commissionRate) go into
the state for the PnL and the strategy; `--stp` sets the account's self-trade prevention mode (POST
/fapi/v3/stpMode; the desk also sends it on every order); `--mmp-*` sets Market Maker Protection for the
symbol (POST /fapi/v3/mmp).

Refusals that no retry at once can cure block the bot's orders, with a clear status, an alert and a retry
that backs off instead of a storm of rejections: -4088 "User can not place order currently" (an MMP freeze
when MMP is set, else the account's permission), -4141 "Symbol is closed" and -4022 "market status sent is
not valid.". While blocked the bot is close-only (no opening order); every order waits for the retry time,
when the block lifts for one attempt; an accepted order ends it.

How an MMP freeze reports itself is not documented (V3 doc, "Update User MMP": no code, no event, no
field). The bot handles both readings the simulator offers: new orders refused with -4088 and the open ones
cancelled by the exchange, or refused only. Either way it notices the freeze at its next order request's
-4088 (under the second reading, its resting order may fill until then: nothing on the wire says more). That
request was its one order's placement or modification, and a refused modification is followed by a cancel,
so nothing of it stays open; it sends nothing for the configured freeze, then tries again. Still refused,
the freeze did not end by itself (the docs do not say it does): it calls mmpReset once and tries again;
refused after that, it is an account block like any other -4088.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from aster_mm.core import codes
from aster_mm.core.config import Config
from aster_mm.core.state import FeeRates, StrategyState
from aster_mm.exchange.client import AsterClient, ExchangeError
from aster_mm.ops.metrics import Metrics

log = logging.getLogger("mm")

MMP, PERMISSION, MARKET = "mmp", "permission", "market"  # the causes of a block (close-only causes too)
RETRY_MAX_S = 300.0  # a block's retries: Timings.block_retry (10 s), doubling, at most 5 minutes
AFTER_RESET_S = 1.0  # from mmpReset to the next attempt


@dataclass
class Block:
    why: str
    attempts: int  # refusals in a row
    retry_at: float  # the bot's clock: the next attempt
    reset_sent: bool = False  # mmpReset was sent for this freeze


def retry_delay(cause: str, attempts: int, frozen_s: float, first_s: float) -> float:
    """Seconds from a refusal to the next attempt: an MMP freeze's own length first, a short pause after it
    (for mmpReset), then `first_s` doubling to 5 minutes."""
    if cause == MMP and attempts == 1:
        return frozen_s
    if cause == MMP and attempts == 2:
        return AFTER_RESET_S
    return min(RETRY_MAX_S, first_s * 2 ** max(attempts - (3 if cause == MMP else 1), 0))


class Protection:
    def __init__(
        self,
        client: AsterClient,
        cfg: Config,
        state: StrategyState,
        metrics: Metrics,
        now: Callable[[], float],
        hold_off: Callable[[float], None],
        first_retry: float,
    ):
        """`hold_off(seconds)`: no order request before then (the order desk's); `first_retry`: seconds from
        a block's first refusal to its first retry."""
        self.client, self.cfg, self.state, self.metrics, self.now = client, cfg, state, metrics, now
        self.hold_off, self.first_retry = hold_off, first_retry
        self.symbol = cfg.symbol
        self.blocks: dict[str, Block] = {}

    async def configure(self) -> None:
        """At start: the commission rates; --stp; --mmp-*. An exchange without commissionRate (404) leaves the
        base tier's rates; a refused STP or MMP setting is fatal (the caller's start-up says why)."""
        try:
            maker, taker = await self.client.commission_rates(self.symbol)
            self.state.fees = FeeRates(maker, taker)
            log.info("commission rates of %s: maker %s, taker %s", self.symbol, maker, taker)
        except ExchangeError as err:
            if err.status != 404:
                raise
            log.warning("commission rates unknown (%s): assuming the base tier's", err)
        if self.cfg.stp_mode:
            await self.client.set_stp_mode(self.cfg.stp_mode)
            log.info("self-trade prevention: %s (the account's mode, and on every order)", self.cfg.stp_mode)
        if self.cfg.mmp:
            await self.client.set_mmp(self.symbol, self.cfg.mmp)
            log.info("market maker protection set: %s", self.cfg.mmp)

    # ----- refusals -----
    def cause_of(self, err: ExchangeError) -> str | None:
        if err.code in codes.NO_PERMISSION:
            return MMP if self.cfg.mmp else PERMISSION
        return MARKET if err.code in codes.MARKET_CLOSED else None

    def on_refusal(self, err: ExchangeError) -> None:
        """An order request refused: start or prolong a block when the code calls for one."""
        cause = self.cause_of(err)
        if cause is None:
            return
        block, attempts = self.blocks.get(cause), 1
        if block is not None:
            attempts = block.attempts + 1
            if block.reset_sent:  # refused even after mmpReset: a block like any other
                del self.blocks[cause]
                self.state.close_only.pop(cause, None)
                cause, block = PERMISSION, self.blocks.get(PERMISSION)
        frozen_s = self.cfg.mmp.frozen_ms / 1000 if self.cfg.mmp else 0.0
        wait = retry_delay(cause, attempts, frozen_s, self.first_retry)
        why = self._why(cause, err)
        self.blocks[cause] = Block(why, attempts, self.now() + wait, block is not None and block.reset_sent)
        self.state.close_only[cause] = why
        self.hold_off(wait)
        if block is None:
            log.critical("%s: no orders for %.1f s, then one attempt", why, wait)
            self.state.on_alert(f"{why}; retrying in {wait:.1f} s")
            if cause == MMP:
                self.metrics.mmp_freezes += 1
        else:
            log.warning("still refused (%s, attempt %d): next attempt in %.1f s", err, attempts, wait)

    def _why(self, cause: str, err: ExchangeError) -> str:
        if cause == MMP:
            return f"MMP FREEZE on {self.symbol} (orders refused: {err.code} {err.msg})"
        if cause == PERMISSION:
            return f"ORDERS REFUSED by the exchange ({err.code} {err.msg})"
        return f"SYMBOL {self.symbol} NOT OPEN for orders ({err.code} {err.msg})"

    def on_accepted(self) -> None:
        """An order request went through: every block is over."""
        if not self.blocks:
            return
        log.warning("orders accepted again: %s over", "; ".join(self.blocks))  # the ops watcher alerts its end
        for cause in self.blocks:
            self.state.close_only.pop(cause, None)
        self.blocks.clear()

    # ----- the quoting loop's housekeeping -----
    def lift_due(self) -> bool:
        """A block's retry time has come (its close-only cause still stands)."""
        now = self.now()
        return any(b.retry_at <= now and cause in self.state.close_only for cause, b in self.blocks.items())

    async def lift(self) -> bool:
        """Let one attempt through: the cause's close-only ends until the next refusal; a freeze that outlasted
        its length gets mmpReset first."""
        now = self.now()
        for cause, block in self.blocks.items():
            if block.retry_at > now or cause not in self.state.close_only:
                continue
            if cause == MMP and block.attempts >= 2 and not block.reset_sent:
                log.warning("MMP freeze outlasted --mmp-freeze: sending mmpReset for %s", self.symbol)
                block.reset_sent = True
                await self.client.reset_mmp(self.symbol)
            log.info("%s: trying an order again (attempt %d)", block.why, block.attempts + 1)
            del self.state.close_only[cause]
        return True

    def frozen(self) -> bool:
        return MMP in self.blocks

    def snapshot(self) -> dict:
        """What the metrics show of the rate limits and the exchange's protection (ops.metrics.Snapshot)."""
        return {
            "banned_s": self.client.banned_for(),
            "backoff_s": self.client.blocked_for(),
            "rate_limited": dict(self.client.limits.counts),
            "mmp_frozen": self.frozen(),
        }

    def text(self) -> str:
        """The status line's part about blocks ("" when none)."""
        now = self.now()
        return " ".join(f"blocked={cause}({max(0.0, b.retry_at - now):.0f}s)" for cause, b in self.blocks.items())
