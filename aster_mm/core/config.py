"""The bot's settings as plain data: what the user chose (`Config`) and every delay the bot waits on
(`Timings`). Parsing them from the command line is `aster_mm.settings`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from aster_mm.core.kinds import Bias, SpreadModel
from aster_mm.core.quoting import SIGNAL_STOP_LOSS, QuotePolicy
from aster_mm.core.signals import SignalConfig


@dataclass(frozen=True)
class MmpConfig:
    """Market Maker Protection as POST /fapi/v3/mmp takes it (V3 doc, "Update User MMP"): fills within the
    window reaching a limit freeze the account's orders on the symbol for `frozen_ms`. Whole numbers (LONG);
    the units of the quantity and value limits are not documented (base asset and quote, presumably)."""

    window_ms: int
    frozen_ms: int
    qty_limit: int | None = None  # "Maximum cumulative filled quantity (both buy and sell) within the window"
    value_limit: int | None = None  # "Maximum cumulative notional value within the window"
    delta_limit: int | None = None  # "Maximum cumulative net position change (buys minus sells) within the window"


def model_stop_loss(given: Decimal | None, model: SpreadModel) -> Decimal | None:
    """The stop-loss in force: the one given, none for 0, else the quote model's own."""
    if given is not None:
        return given or None
    return SIGNAL_STOP_LOSS if model == SpreadModel.SIGNAL else None


@dataclass(frozen=True)
class Config:
    symbol: str
    buy_spread: Decimal = Decimal("0.006")
    sell_spread: Decimal = Decimal("0.006")
    balance_fraction: Decimal = Decimal("0.2")
    leverage: int = 1
    position_threshold_usd: Decimal = Decimal("15")
    reprice_threshold: Decimal = Decimal("0.001")
    cancel_countdown: float = 60.0  # dead-man switch in seconds; 0 disables it
    log_file: str = "market_maker.log"
    log_level: str = "INFO"
    ledger: str | None = None  # None: ledger-<SYMBOL>.csv beside the log file
    sim: bool = False
    margin_type: str | None = None  # "CROSSED" or "ISOLATED"; None leaves the account's as it is
    start_timeout: float = 120.0  # keep retrying an unreachable exchange at start this long
    resume_after_liquidation: bool = False
    modify: bool = True  # V3: move a resting order with Modify Order; False: cancel, then place
    side: Bias = Bias.LONG  # long: BUY to open, SELL to close (the original); short: mirrored
    spread_model: SpreadModel = SpreadModel.SIGNAL  # docs/trading.md; fixed: --buy-spread/--sell-spread
    risk_aversion: float = 0.1  # GLFT gamma, per basis point per lot
    min_spread: Decimal = Decimal("0.00045")  # adaptive floor: a maker and a taker fee at Aster's base tier
    adaptive_half_life: float = 300.0  # s: in a quiet market the last fit's spreads decay to the fixed ones
    signal: SignalConfig = field(default_factory=SignalConfig)  # --spread-model signal: the signal's weights
    quote_policy: QuotePolicy = field(default_factory=QuotePolicy)  # --spread-model signal: the quote's rules
    max_position_usd: Decimal | None = None  # an opening order never takes the position past this notional
    # close when the mark is this fraction against the entry price; None: the model's own (the signal model's
    # SIGNAL_STOP_LOSS, off for the others), 0: off; what applies is stop_loss_in_force
    stop_loss: Decimal | None = None
    stop_slippage: Decimal = Decimal("0.002")  # a stop crosses the spread by at most this fraction
    max_loss_usd: Decimal | None = None  # session net PnL (unrealized included) that pauses or halts
    max_daily_loss_usd: Decimal | None = None  # UTC-day net PnL from the ledger that pauses or halts
    halt_cooldown: float = 60.0  # minutes paused after a loss limit; 0: halted until restarted
    flatten_on_halt: bool = False  # close the position when a loss limit fires
    network: str = "mainnet"
    start_price: Decimal | None = None  # --sim only: the synthetic market's first mid and the symbol's units
    tick: Decimal | None = None
    step: Decimal | None = None
    fill_model: str = "queue"  # --sim/--paper only: the simulator's fill rule
    feed_latency_ms: float = 0.0  # --sim/--paper only: market data delay
    order_latency_ms: float = 0.0  # --sim/--paper only: order request delay
    paper: bool = False  # the simulator fed by the real exchange's public streams
    paper_feed_url: str | None = None  # None: ASTER_WS_URL, else the network's WebSocket host
    paper_balance: Decimal = Decimal("10000")  # the paper account's USDT
    metrics_port: int | None = None  # serve Prometheus metrics here; None: no metrics server
    metrics_host: str = "127.0.0.1"
    alert_webhook: str | None = field(default=None, repr=False)  # the URL is the webhook's secret
    weight_budget: int | None = None  # the IP's request weight per minute order requests stay under
    send_user: bool = True  # V3: `user` on every signed call besides `signer` (--v3-user)
    stp_mode: str | None = None  # self-trade prevention for our orders and the account (--stp)
    mmp: MmpConfig | None = None  # Market Maker Protection set at start (--mmp-*)

    @property
    def stop_loss_in_force(self) -> Decimal | None:
        return model_stop_loss(self.stop_loss, self.spread_model)

    @property
    def mode(self) -> str:
        """ "sim", "paper" or "" (live): names the default log and ledger files and tags alerts."""
        return "sim" if self.sim else "paper" if self.paper else ""

    @property
    def venue(self) -> str:
        """Where the orders go, as a --sim or --paper session says at its start; "" when live."""
        return {
            "sim": "on the built-in simulator (--sim: a synthetic market; no real orders, no real money)",
            "paper": "paper trading (--paper: real prices, simulated fills; no order reaches the exchange)",
        }.get(self.mode, "")


@dataclass(frozen=True)
class Timings:
    """Every delay the bot waits on, injectable so tests run fast."""

    stale_after: float = 30.0  # no market frame for this long: data is stale
    status_every: float = 30.0
    keepalive_every: float = 30 * 60.0
    sweep_every: float = 30.0  # compare exchange orders/position with ours
    heartbeat_every: float = 15.0  # dead-man switch renewal
    reconnect_first: float = 0.5
    reconnect_max: float = 30.0
    stable_after: float = 10.0  # a connection up this long resets the reconnect back-off
    unknown_grace: float = 3.0  # a brand-new order may answer -2013 for this long
    requery_every: float = 0.25  # how often an UNKNOWN order is queried again
    shutdown_timeout: float = 5.0
    idle_wake: float = 1.0  # the loop re-checks staleness and sweeps at least this often
    rules_every: float = 15 * 60.0  # re-read the symbol's rules and status
    start_retry_max: float = 10.0  # longest pause between start-up attempts
    unresolved_grace: float = 5.0  # at start, a host name that does not resolve fails after this, not --start-timeout
    settings_retry: float = 60.0  # after leverage or margin type could not be set, try again this late
    income_every: float = 3600.0  # reconcile the ledger with the exchange's income history
    income_lag: float = 5.0  # ... up to this long ago, after waiting as long: stream events first
    block_retry: float = 10.0  # orders refused outright (-4088, -4141, -4022): first retry, doubling to 5 min
